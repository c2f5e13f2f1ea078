"""Pages of messages fit in one frame: daphne will not send a frame over its message size limit
(64 KiB here), so `joined` and `older` carry the newest messages that fit and say more exist."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chat.events import newest_that_fit
from chat.identity import Identity
from chat.protocol import encode_event
from chat.services import post_message
from tests.backend.sockets import connected

# 2000 emoji: 8 KB of UTF-8 in one message, within every limit a visitor has.
BIG_TEXT = "😀" * 2000
PAGE_BUDGET_BYTES = 20_000


def fake_event(seq: int, text: str) -> dict:
    return {"type": "message", "seq": seq, "text": text}


def test_the_newest_events_that_fit_are_kept_in_order():
    events = [fake_event(seq, "x" * 100) for seq in range(1, 11)]
    size = len(encode_event(events[-1]).encode()) + 1  # seq 10: the largest
    kept, trimmed = newest_that_fit(events, budget_bytes=size * 3)
    assert [event["seq"] for event in kept] == [8, 9, 10]
    assert trimmed


def test_everything_is_kept_when_it_fits():
    events = [fake_event(seq, "short") for seq in range(1, 4)]
    assert newest_that_fit(events, budget_bytes=10_000) == (events, False)
    assert newest_that_fit([], budget_bytes=0) == ([], False)


def fill_room(room: str, count: int) -> None:
    author = Identity(visitor="v-filler", name="Filler")
    for number in range(count):
        post_message(room_name=room, identity=author, text=f"{number} {BIG_TEXT}", client_id=f"fill-{number}")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_room_with_a_big_history_is_joined_with_the_newest_page_that_fits(settings):
    settings.BACKCHANNEL_PAGE_BUDGET_BYTES = PAGE_BUDGET_BYTES
    settings.BACKCHANNEL_DUPLICATE_WINDOW_SECS = 0

    await sync_to_async(fill_room)("big", 9)
    async with connected("Reader") as reader:
        joined = await reader.join("big")
        seqs = [message["seq"] for message in joined["history"]]
        assert seqs and seqs[-1] == 9 and seqs == list(range(seqs[0], 10))
        assert len(encode_event(joined).encode()) < PAGE_BUDGET_BYTES + 2_000
        assert joined["has_older"] is True and joined["resumed"] is False

        # A resume over the budget becomes that same latest page (resumed false: replace the view).
        rejoined = await reader.join("big", after_seq=0, arrives=False)
        assert rejoined["resumed"] is False
        assert [message["seq"] for message in rejoined["history"]] == seqs

        # Older pages fit too, nearest first, and say more remain.
        await reader.send(type="load_older", room="big", before_seq=seqs[0])
        older = await reader.next()
        older_seqs = [message["seq"] for message in older["messages"]]
        assert older_seqs and older_seqs[-1] == seqs[0] - 1
        assert older["has_older"] is (older_seqs[0] > 1)
