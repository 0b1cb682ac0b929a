import json


class RecordingOutbox:
    """Stands in for a socket's outbox: records, in order, the frames the hub hands it."""

    closed = False

    def __init__(self):
        self.frames = []

    def push(self, text):
        self.frames.append(json.loads(text))

    def discard(self):
        self.closed = True

    @property
    def seqs(self):
        return [f["seq"] for f in self.frames]
