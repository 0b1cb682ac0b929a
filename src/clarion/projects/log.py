"""A project's event log: one stream per project."""

from clarion.projects.models import ProjectEvent
from clarion.projects.payloads import event_payload
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.streams.log import SequencedLog


def _frame(event) -> str:
    return encode_frame(server_frame(ServerFrameType.PROJECT_EVENT, event_payload(event)))


PROJECT_LOG = SequencedLog(
    "project_event",
    ProjectEvent,
    stream_kind="project",
    stream_field="project_id",
    audience=lambda event: ("project", event.project_id),
    frame=_frame,
    queryset=lambda: ProjectEvent.objects.select_related("actor"),
)


def stream_of(project_id):
    return PROJECT_LOG.key(project_id)
