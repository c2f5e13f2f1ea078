"""Running database work on several threads at once, each with its own connection, the way
several sockets (or processes) reach the database at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

Result = TypeVar("Result")
JOIN_TIMEOUT_SECS = 60


def side_by_side(work: Callable[[int], Result], count: int) -> list[Result]:
    """``work(0)`` … ``work(count - 1)`` started together on threads of their own; their results.
    Any thread's failure fails the caller."""
    results: list = [None] * count
    failures: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported by the calling thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_SECS)
    assert not failures, failures
    return results
