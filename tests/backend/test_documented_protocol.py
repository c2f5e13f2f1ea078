"""The wire protocol as ARCHITECTURE.md writes it down is the one backend/chat/protocol.py speaks:
every error code, every server event type and every client event type, version 2's tables and
version 3's additions. (tests/js/protocol.test.js holds the widget's protocol.js to the same tables.)"""

import re
import typing
from pathlib import Path

import pytest

from chat.protocol import ErrorCode, Limits, ProtocolError, ServerEvent, parse_client_event

ARCHITECTURE = (Path(__file__).resolve().parents[2] / "ARCHITECTURE.md").read_text(encoding="utf-8")


def table_names(heading: str) -> set[str]:
    """The first column's `names` of the table under ``heading``."""
    after = ARCHITECTURE.split(f"\n{heading}\n", 1)[1]
    names, in_table = set(), False
    for line in after.splitlines():
        if line.startswith("|"):
            in_table = True
            if match := re.match(r"^\|\s*`([a-z_]+)`\s*\|", line):
                names.add(match[1])
        elif in_table:
            break
    return names


def test_every_error_code_is_documented_and_every_documented_one_exists() -> None:
    assert {code.value for code in ErrorCode} == table_names("### Error codes")


def test_the_server_event_types_are_the_documented_ones() -> None:
    # protocol.py postpones its annotations: resolve each event's `type: Literal[...]`.
    spoken = {typing.get_args(typing.get_type_hints(event)["type"])[0] for event in typing.get_args(ServerEvent)}
    documented = table_names("### Server → client") | table_names("### Version 3: server → client")
    assert spoken == documented


CLIENT_TYPES = sorted(table_names("### Client → server") | table_names("### Version 3: client → server"))


@pytest.mark.parametrize("event_type", CLIENT_TYPES)
def test_every_documented_client_event_type_is_parsed(event_type: str) -> None:
    try:
        parse_client_event(f'{{"type": "{event_type}"}}', None, Limits(max_text_chars=20, max_frame_bytes=300), 3)
    except ProtocolError as error:
        assert error.code != ErrorCode.UNKNOWN_TYPE, event_type  # known: only its fields are missing


def test_nothing_undocumented_is_parsed() -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_client_event('{"type": "subscribe"}', None, Limits(max_text_chars=20, max_frame_bytes=300), 3)
    assert refused.value.code == ErrorCode.UNKNOWN_TYPE
    assert len(CLIENT_TYPES) == 10
