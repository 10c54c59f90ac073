"""Structured logs and Prometheus metrics shared by workers and the API."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

FRAMES_READ = Counter(
    "vigie_frames_read_total", "Frames delivered by a source", ["camera"], registry=REGISTRY
)
FRAMES_DROPPED = Counter(
    "vigie_frames_dropped_total",
    "Frames dropped (stale in a bounded queue, corrupt, or skipped by sampling)",
    ["camera", "reason"],
    registry=REGISTRY,
)
INFERENCE_SECONDS = Histogram(
    "vigie_inference_seconds",
    "Detector latency per call",
    ["model", "device"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
STREAM_UP = Gauge(
    "vigie_stream_up", "1 if the camera stream delivers frames, else 0", ["camera"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge("vigie_queue_depth", "Items waiting in a bounded queue", ["queue"], registry=REGISTRY)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={...}` fields are kept as keys."""

    _skip = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in self._skip})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class DropQueryStrings(logging.Filter):
    """Removes query strings from uvicorn's access lines: they can carry a credential (the fire stream's
    `?ticket=`, as EventSource cannot send headers) or personal data, and logs are kept for long."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access records: (client address, method, path with query, HTTP version, status code).
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            path = record.args[2]
            if "?" in path:
                record.args = (*record.args[:2], path.split("?", 1)[0] + "?…", *record.args[3:])
        return True


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # ultralytics prints its own banners through logging; keep them out of ours unless debugging.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryStrings) for f in access.filters):
        access.addFilter(DropQueryStrings())
    for noisy in ("ultralytics", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
