"""A `joined` frame carries its room's latest page encoded once per page and protocol version
(chat.page_cache, chat.events.encode_with_encoded): every join shows what a frame encoded whole
would show, in either protocol version, and a change of the log shows in the next join."""

from __future__ import annotations

import json

import pytest

from chat import events
from chat.protocol import encode_event
from tests.backend.sockets import connected


def test_a_value_given_encoded_makes_the_frame_encoding_it_whole_makes():
    page = [{"type": "message", "text": '日本語 "quoted" \\ <b>', "seq": 1}, {"type": "message", "seq": 2}]
    rest = {"type": "joined", "room": "lobby", "latest_seq": 2, "presence": {"people": None}}
    frame = events.encode_with_encoded(rest, "history", events.encode_json(page))
    assert json.loads(frame) == {**rest, "history": page}
    assert len(frame) == len(encode_event({**rest, "history": page}))  # the same separators, UTF-8 kept


def test_a_list_that_fits_comes_with_its_json_and_one_that_does_not_is_cut_as_before():
    page = [{"type": "message", "seq": seq, "text": "é" * seq} for seq in range(1, 6)]
    sizes = [len(encode_event(event).encode()) + 1 for event in page]  # each event and its comma
    kept, trimmed, kept_json = events.fit_encoded(page, sum(sizes))
    assert (kept, trimmed) == (page, False) and kept_json == encode_event(page)  # type: ignore[arg-type]
    kept, trimmed, kept_json = events.fit_encoded(page, sum(sizes) - 1)
    assert (kept, trimmed, kept_json) == (page[1:], True, None)
    assert events.newest_that_fit(page, sum(sizes[2:])) == (page[2:], True)
    assert events.fit_encoded([], 0) == ([], False, "[]")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_joins_show_the_page_and_a_post_shows_in_the_next_join(monkeypatch):
    encoded_pages: list[object] = []
    real = events.encode_json

    def counted(value: object) -> str:
        if isinstance(value, list):
            encoded_pages.append(value)
        return real(value)

    monkeypatch.setattr("chat.events.encode_json", counted)
    async with connected("Ann") as ann:
        await ann.join("lobby")
        for number in range(3):
            await ann.say("lobby", f"m{number}")
        encoded_pages.clear()  # Ann's join showed the empty room
        frames = []
        for name, protocol in [("Bob", 2), ("Cid", 2), ("Dee", 3), ("Eve", 3)]:
            async with connected(name, protocol=protocol) as reader:
                frames.append(await reader.join("lobby"))
        assert [[message["text"] for message in frame["history"]] for frame in frames] == [["m0", "m1", "m2"]] * 4
        assert "rev" not in frames[0]["history"][0] and "rev" in frames[2]["history"][0]
        assert len(encoded_pages) == 2, "one page encoded per protocol version, not per join"
        await ann.say("lobby", "m3")
        async with connected("Fay") as reader:
            joined = await reader.join("lobby")
        assert [message["text"] for message in joined["history"]] == ["m0", "m1", "m2", "m3"]
        assert joined["latest_seq"] == 4 and joined["resumed"] is False
