"""Logs: JSON lines, and access lines that never carry query strings (tokens, plates)."""

from __future__ import annotations

import json
import logging

import pytest

from vigie.observability import configure_logging


@pytest.fixture
def restore_logging():
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level = root.handlers[:], root.level
    access_state = (access.level, access.propagate, access.filters[:])
    # An earlier uvicorn in this process (log_level="warning") may have raised the access logger's level.
    access.setLevel(logging.INFO)
    access.propagate = True
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    access.level, access.propagate, access.filters[:] = access_state


def test_access_lines_lose_their_query_string(restore_logging, capsys) -> None:
    configure_logging("INFO", json_lines=True)
    access = logging.getLogger("uvicorn.access")
    for path in ("/api/v1/alerts/stream?ticket=vigie_secret", "/api/v1/lapi/reads?plate=AB-123-CD"):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["msg"] for line in lines] == [
        '127.0.0.1:5000 - "GET /api/v1/alerts/stream?… HTTP/1.1" 200',
        '127.0.0.1:5000 - "GET /api/v1/lapi/reads?… HTTP/1.1" 200',
    ]
    assert all(line["logger"] == "uvicorn.access" and line["level"] == "info" for line in lines)


def test_configuring_twice_adds_one_filter(restore_logging) -> None:
    access = logging.getLogger("uvicorn.access")
    configure_logging()
    configure_logging()
    assert sum(type(f).__name__ == "DropQueryStrings" for f in access.filters) == 1
