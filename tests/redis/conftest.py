"""Shared by the Redis suites: a private redis-server per test module, on a free port."""

from __future__ import annotations

import pytest

from scripts.processes import free_port, start_redis, stop_process


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    try:
        port = free_port()
        process = start_redis(port=port, data_dir=tmp_path_factory.mktemp("redis"))
    except Exception as error:  # noqa: BLE001 - turned into a loud failure with the cause
        pytest.fail(str(error), pytrace=False)
    yield f"redis://127.0.0.1:{port}/0"
    stop_process(process, what="redis-server")
