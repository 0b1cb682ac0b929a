"""/ws/projects/{project_id}/: a project's events, live, with resume by cursor.

Members, the advisor and admins only (4403); an id that is not a project, or not a number
at all, is 4404 — decided before anything reaches the hub.
"""

import re

from clarion.projects import access
from clarion.projects.models import Project
from clarion.projects import log as project_log
from clarion.projects.payloads import project_payload
from clarion.protocol import CloseCode, Ping
from clarion.protocol.frames import PROJECT_CLIENT_FRAMES, ServerFrameType
from clarion.realtime import groups
from clarion.realtime.consumers.streams import LogStreamConsumer

_PROJECT_ID = re.compile(r"^[1-9][0-9]{0,17}$")  # positive, below 2**63


class ProjectConsumer(LogStreamConsumer):
    endpoint = "projects"
    client_frames = PROJECT_CLIENT_FRAMES
    handlers = {Ping: "on_ping"}
    snapshot_type = ServerFrameType.PROJECT_SNAPSHOT
    item_type = ServerFrameType.PROJECT_EVENT
    items_key = "events"

    def resolve(self):
        raw = str(self.scope["url_route"]["kwargs"].get("project_id", ""))
        if not _PROJECT_ID.match(raw):
            return CloseCode.NOT_FOUND
        self.project_id = int(raw)
        answer = access.access_to(self.user, self.role, self.project_id)
        if answer == "missing":
            return CloseCode.NOT_FOUND
        return None if answer == "allowed" else CloseCode.FORBIDDEN

    def group_names(self):
        return [groups.project_group(self.project_id)]

    def read(self, after):
        return project_log.read(self.project_id, after)

    def snapshot_extra(self):
        project = Project.objects.select_related("status").get(pk=self.project_id)
        return {"project": project_payload(project)}
