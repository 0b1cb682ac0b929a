"""docs/protocol.md against clarion.protocol: the document cannot drift from the wire contract.

Every server and client frame type, error code and close code must be documented in its
section; the close-code table must list only real codes, under their real names, with the
reconnect answer of ``should_reconnect``; every JSON example must parse; the payload table must
list exactly the payload's fields. Plain text parsing, no database.
"""

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from clarion.notifications.payloads import notification_payload
from clarion.protocol import CloseCode, ErrorCode, ServerFrameType, should_reconnect
from clarion.protocol.frames import CLIENT_FRAMES, COLLABORATION_CLIENT_FRAMES, PROJECT_CLIENT_FRAMES

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

_JSON_BLOCK = re.compile(r"^[ \t]*```json[ \t]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_FRAME_HEADING = re.compile(r"^### `([^`]+)`[ \t]*$", re.MULTILINE)


def section(title: str, text: str | None = None, level: int = 2) -> str:
    """The body of the heading ``title`` (at ``level``) up to the next heading of that level or higher."""
    text = DOC if text is None else text
    marks = "#" * level
    match = re.search(rf"^{marks} {re.escape(title)}[ \t]*$", text, re.MULTILINE)
    assert match, f"docs/protocol.md has no '{marks} {title}' section"
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def subsections(text: str) -> dict[str, str]:
    """``### `name` `` headings of a section, each with its body."""
    matches = list(_FRAME_HEADING.finditer(text))
    bodies = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        bodies[match.group(1)] = text[match.end():end]
    return bodies


def table(text: str) -> list[dict[str, str]]:
    """The first Markdown table of ``text`` as a list of rows keyed by header."""
    lines = [line.strip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    assert start is not None, "expected a Markdown table"
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, separator, *body = rows
    assert all(set(cell) <= set("-: ") for cell in separator), "second table row must be the separator"
    for row in body:
        assert len(row) == len(header), f"table row has {len(row)} cells, header has {len(header)}: {row}"
    return [dict(zip(header, row)) for row in body]


def backticked(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected a single backticked name in the first column, got {cell!r}"
    return match.group(1)


def column(rows: list[dict[str, str]], prefix: str) -> str:
    names = [name for name in rows[0] if name.lower().startswith(prefix.lower())]
    assert len(names) == 1, f"expected one column starting with {prefix!r}, got {list(rows[0])}"
    return names[0]


# -- frames ------------------------------------------------------------------------------


def test_every_server_frame_type_has_its_own_section_and_nothing_else_does():
    documented = set(subsections(section("Server frames")))
    assert documented == {str(member) for member in ServerFrameType}


def test_every_client_frame_type_has_its_own_section_and_nothing_else_does():
    documented = set(subsections(section("Client frames")))
    assert documented == set(CLIENT_FRAMES) | set(PROJECT_CLIENT_FRAMES) | set(COLLABORATION_CLIENT_FRAMES)


@pytest.mark.parametrize("title", ["Server frames", "Client frames"])
def test_every_frame_section_shows_a_json_example_of_that_type(title):
    for name, body in subsections(section(title)).items():
        examples = [json.loads(block) for block in _JSON_BLOCK.findall(body)]
        assert any(isinstance(e, dict) and e.get("type") == name for e in examples), (
            f"the {name!r} section of {title} has no JSON example with \"type\": {name!r}"
        )


def test_every_json_example_parses_to_an_object():
    blocks = _JSON_BLOCK.findall(DOC)
    assert blocks, "docs/protocol.md has no ```json examples"
    for block in blocks:
        value = json.loads(block)
        assert isinstance(value, dict), block
        if value.get("type") in {str(member) for member in ServerFrameType} and "data" in value:
            assert isinstance(value["data"], dict), block


def test_error_examples_use_real_error_codes():
    codes = {str(code) for code in ErrorCode}
    for block in _JSON_BLOCK.findall(DOC):
        value = json.loads(block)
        if value.get("type") == str(ServerFrameType.ERROR):
            assert value["data"]["code"] in codes, block


# -- error codes -------------------------------------------------------------------------


def test_error_code_table_lists_exactly_the_error_codes():
    rows = table(section("Error codes"))
    first = next(iter(rows[0]))
    documented = [backticked(row[first]) for row in rows]
    assert len(documented) == len(set(documented)), f"duplicate rows: {documented}"
    assert set(documented) == {str(code) for code in ErrorCode}


# -- close codes -------------------------------------------------------------------------


def close_code_rows() -> list[dict[str, str]]:
    return table(section("Close codes"))


def test_close_code_table_lists_every_close_code_and_only_real_ones():
    rows = close_code_rows()
    code_column = column(rows, "code")
    documented = [int(backticked(row[code_column])) for row in rows]
    assert len(documented) == len(set(documented)), f"duplicate rows: {documented}"
    real = {int(code) for code in CloseCode}
    assert not set(documented) - real, f"not CloseCode members: {sorted(set(documented) - real)}"
    assert not real - set(documented), f"undocumented close codes: {sorted(real - set(documented))}"


def test_close_code_names_match_the_enum():
    rows = close_code_rows()
    code_column, name_column = column(rows, "code"), column(rows, "name")
    for row in rows:
        code = int(backticked(row[code_column]))
        assert backticked(row[name_column]) == CloseCode(code).name, row


def test_reconnect_column_agrees_with_should_reconnect():
    rows = close_code_rows()
    code_column, reconnect_column = column(rows, "code"), column(rows, "reconnect")
    for row in rows:
        code = int(backticked(row[code_column]))
        answer = re.match(r"[A-Za-z]+", row[reconnect_column])
        assert answer and answer.group(0).lower() in ("yes", "no"), f"reconnect must start with yes or no: {row}"
        assert (answer.group(0).lower() == "yes") == should_reconnect(code), (
            f"docs say {row[reconnect_column]!r} for {code}, should_reconnect says {should_reconnect(code)}"
        )


# -- payload -----------------------------------------------------------------------------


def test_payload_table_lists_exactly_the_payload_fields():
    fake = SimpleNamespace(
        pk=1, title="t", message="", notification_type="info", recipient_type="all", recipient_id="",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), created_by_id=None, link="", data={}, seq=1,
        category="announcement", topic="", group_key="", expires_at=None,
    )
    fields = list(notification_payload(fake, is_read=False))
    rows = table(section("Notification payload"))
    first = next(iter(rows[0]))
    assert [backticked(row[first]) for row in rows] == fields
