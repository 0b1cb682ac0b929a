"""A project's event log: one stream per project."""

from clarion.conf import clarion_settings
from clarion.projects.models import ProjectEvent
from clarion.projects.payloads import event_payload
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.streams import read as logread
from clarion.streams.log import SequencedLog
from clarion.streams.read import LogPage, LogSnapshot


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


# -- reading the stream: one path for the socket (snapshot, replay) and REST (?after=) ------


def _rows(project_id):
    return ProjectEvent.objects.filter(project_id=project_id).select_related("actor")


def read(project_id, after: int | None) -> LogSnapshot:
    """What a socket gets at connect: the newest events, or those after ``after`` (payloads)."""
    snap = logread.read_log(stream_of(project_id), _rows(project_id), after=after,
                            recent=lambda rows: rows.order_by("-seq"),
                            recent_limit=clarion_settings.RECENT_LIMIT, resume_limit=clarion_settings.RESUME_LIMIT)
    snap.recent = [event_payload(e) for e in snap.recent]
    if snap.missed is not None:
        snap.missed = [event_payload(e) for e in snap.missed]
    return snap


def page(project_id, after: int, limit: int) -> LogPage:
    """A page of the events after ``after`` (payloads), under the socket's resume rule."""
    result = logread.read_page(stream_of(project_id), _rows(project_id), after=after, limit=limit,
                               resume_limit=clarion_settings.RESUME_LIMIT)
    result.items = [event_payload(e) for e in result.items]
    return result
