"""Group-committed sequencing under concurrent writers in two processes (issue 11).

Both servers create at once into three streams (the notification log and two projects'
events), so PostgreSQL commits ids out of order and each process numbers rows in batches.
Every stream must still come out with no gap, no duplicate and one order: the live sockets,
a resume from the starting cursor and the seqs in the database all agree.
"""

import concurrent.futures
import re
import urllib.request

import pytest

from clarion.protocol import decode_cursor
from tests.integration.harness import frames_until_quiet, new_project, next_frame, user_id
from tests.integration.test_streams import first

pytestmark = [pytest.mark.integration, pytest.mark.scaleout]

PER_STREAM = 60


def _project(server, tokens):
    return new_project(server, tokens, "Busy")["id"]


async def _collect(ws, kind: str, count: int) -> list[dict]:
    frames = []
    while len(frames) < count:
        frame = await next_frame(ws, timeout=15)
        if frame["type"] == kind:
            frames.append(frame["data"])
    return frames


async def test_concurrent_writers_on_two_processes_keep_every_stream_whole(server, second_server, tokens):
    alice = user_id(server, tokens["alice"])
    projects = [_project(server, tokens), _project(server, tokens)]
    async with server.socket(tokens["alice"]) as notes, \
            second_server.socket(tokens["alice"], path=f"/ws/projects/{projects[0]}/") as first_project, \
            server.socket(tokens["alice"], path=f"/ws/projects/{projects[1]}/") as second_project:
        start = await next_frame(notes)
        await frames_until_quiet(notes, 0.3)
        start_cursor = start["data"]["cursor"]
        drained = await frames_until_quiet(notes, 0.1)
        if drained:
            start_cursor = drained[-1]["data"]["cursor"]
        project_cursors = [(await first(ws, "project_snapshot"))["data"]["cursor"]
                           for ws in (first_project, second_project)]

        def create(i):
            target = (server, second_server)[i % 2]
            stream = i % 3
            if stream == 0:
                return target.notify(tokens["dave"], title=f"gc {i}", recipient_type="user",
                                     recipient_id=str(alice))["id"]
            status, body = target.request("POST", f"/api/projects/{projects[stream - 1]}/comments/",
                                          {"text": f"gc {i}"}, tokens["carol"])
            assert status == 201, body
            return body["id"]

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            list(pool.map(create, range(3 * PER_STREAM)))

        live = {
            "notifications": await _collect(notes, "notification", PER_STREAM),
            projects[0]: await _collect(first_project, "project_event", PER_STREAM),
            projects[1]: await _collect(second_project, "project_event", PER_STREAM),
        }
    for name, frames in live.items():
        assert len({f["id"] for f in frames}) == PER_STREAM, name  # no duplicate, none missing
        seqs = [decode_cursor(f["cursor"]) for f in frames]
        if name != "notifications":  # a project's stream is its own: its seqs have no gap at all
            assert seqs == list(range(seqs[0], seqs[0] + PER_STREAM)), (name, seqs)

    # A resume from where each socket started replays exactly what arrived live, in order.
    async with second_server.socket(tokens["alice"], cursor=start_cursor) as resumed:
        assert (await next_frame(resumed))["data"]["resumed"] is True
        replayed = [(await next_frame(resumed))["data"]["id"] for _ in range(PER_STREAM)]
        assert replayed == [f["id"] for f in live["notifications"]]
    for pid, cursor in zip(projects, project_cursors):
        async with server.socket(tokens["alice"], path=f"/ws/projects/{pid}/", cursor=cursor) as resumed:
            await first(resumed, "project_snapshot")
            replayed = await _collect(resumed, "project_event", PER_STREAM)
            assert [f["id"] for f in replayed] == [f["id"] for f in live[pid]]

    # Rows were numbered in groups, not one transaction per row.
    rows = batches = 0
    for process in (server, second_server):
        request = urllib.request.Request(process.url + "/metrics", headers=process.metrics_headers())
        text = urllib.request.urlopen(request, timeout=10).read().decode()
        rows += sum(float(v) for v in re.findall(r'^clarion_sequenced_rows_total\{[^}]*\} ([0-9.e+]+)$', text, re.M))
        batches += sum(float(v) for v in re.findall(r'^clarion_sequence_batches_total\{[^}]*\} ([0-9.e+]+)$', text, re.M))
    print(f"\ngroup commit: {rows:.0f} rows in {batches:.0f} batches ({rows / max(batches, 1):.2f} rows per batch)")
    assert rows >= 3 * PER_STREAM and batches < rows
