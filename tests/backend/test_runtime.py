"""What a process keeps across its sockets (chat.runtime): one per process, and per event loop what
belongs to a loop; reset_runtime() forgets all of it, so a changed limit takes effect."""

from __future__ import annotations

import asyncio
import time

from chat.runtime import reset_runtime, runtime


class Member:
    socket_id = "socket.test"

    async def deliver(self, message) -> None:
        pass


def test_each_event_loop_keeps_its_own_fanout_join_batcher_and_socket_tally():
    async def shares():
        share = runtime().loop()
        assert runtime().loop() is share, "the same share for the loop's every socket"
        return share.fanout, share.join_batcher, share.socket_tally()

    first, second = asyncio.run(shares()), asyncio.run(shares())
    for mine, theirs in zip(first, second, strict=True):
        assert mine is not theirs, f"a {type(mine).__name__} would outlive the loop its tasks ran on"


def test_the_buckets_are_the_processs_and_reset_runtime_makes_them_from_the_settings_again(settings):
    settings.BACKCHANNEL_MESSAGE_BURST = 1
    reset_runtime()
    now = time.monotonic()
    assert runtime().limits.message_wait_secs(visitor="v", ip=None, now=now) == 0
    assert runtime().limits.message_wait_secs(visitor="v", ip=None, now=now) > 0, "one message per burst"
    settings.BACKCHANNEL_MESSAGE_BURST = 3
    reset_runtime()
    waits = [runtime().limits.message_wait_secs(visitor="v", ip=None, now=now) for _ in range(3)]
    assert waits == [0, 0, 0], "the new burst, and no count left from before"


def test_reset_runtime_stops_the_tasks_of_every_loops_fanout_and_forgets_the_presence_throttles():
    runtime().presence.online_counts["lobby"] = 3

    async def started_fanout():
        fanout = runtime().loop().fanout
        await fanout.subscribe("room.lobby", Member())
        tasks = list(fanout.tasks)
        assert tasks and not any(task.done() for task in tasks)
        reset_runtime()  # as tests do, between two of them
        await asyncio.sleep(0.01)
        return tasks, runtime().loop().fanout is fanout

    tasks, same_fanout = asyncio.run(started_fanout())
    assert all(task.cancelled() for task in tasks), "the reader and the renewal stopped"
    assert not same_fanout, "a fresh fan-out after the reset"
    assert runtime().presence.online_counts == {}
