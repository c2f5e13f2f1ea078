"""Joins that arrive together share one trip to the database thread.

Every join waits on the process's one database thread (``chat.db``) for its presence row and its
room view. In a join storm (a restart sends every page back at once) each join paid for its own
trip: a thread hand-off each way, a commit, the room's row and a presence snapshot. Here joins
queue while a trip is under way, and the next trip takes all of them (at most ``MAX_BATCH``):
one commit for their rows, one read of the room's row and snapshot per room
(``selectors.enter_and_view_many``). A join that finds the thread idle goes at once, so a quiet
process adds no wait. Each join still subscribes before its trip starts (the consumer does), so
it still reads the log after subscribing.

A trip that fails is made again one join at a time, so one join's error is that join's alone.
"""

from __future__ import annotations

import asyncio
import logging

from chat import selectors
from chat.db import db_call

logger = logging.getLogger(__name__)

# At most this many joins in one transaction: SQLite holds its one write lock for the whole batch.
MAX_BATCH = 64


class JoinBatcher:
    def __init__(self) -> None:
        self.pending: list[tuple[dict, asyncio.Future]] = []
        self.running = False

    async def enter_and_view(self, **join: object) -> tuple[bool, selectors.RoomView]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((join, future))
        if not self.running:
            self.running = True
            asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[dict, asyncio.Future]] = []
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    results: list = await db_call(selectors.enter_and_view_many)(joins=[join for join, _ in batch])
                except Exception:  # noqa: BLE001 - each join again on its own, each with its own outcome
                    logger.warning("a batch of %d joins failed; trying them one at a time", len(batch), exc_info=True)
                    results = []
                    for join, _ in batch:
                        try:  # not `fresh`: a row that was there after all is updated
                            results.append(await db_call(selectors.enter_and_view)(**{**join, "fresh": False}))
                        except Exception as error:  # noqa: BLE001 - handed to that join's consumer
                            results.append(error)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its consumer was cancelled meanwhile
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.running = False
            # Cancelled (the loop is closing): nobody will answer the joins still waiting.
            for _, future in [*batch, *self.pending]:
                if not future.done():
                    future.cancel()
            self.pending = []
