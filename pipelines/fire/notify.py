"""Webhook notification of new alerts: a JSON POST per URL, sent off the writer thread.

Failures are logged, never raised: a dead webhook must not stop alerts being stored.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("vigie.fire.notify")


def post_json(url: str, payload: dict[str, Any], *, timeout_s: float = 5.0) -> int | None:
    """POST `payload` to `url`; the HTTP status, or None when the call failed (logged)."""
    body = json.dumps(payload, default=str).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "vigie"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("webhook %s failed: %s", url, exc)
        return None


def notify_new_alert(
    urls: Sequence[str], payload: dict[str, Any], *, timeout_s: float = 5.0
) -> list[threading.Thread]:
    """Send `payload` to every URL in daemon threads; return them (tests join them)."""
    threads = [
        threading.Thread(
            target=post_json,
            args=(url, payload),
            kwargs={"timeout_s": timeout_s},
            name="vigie-webhook",
            daemon=True,
        )
        for url in urls
    ]
    for t in threads:
        t.start()
    return threads


def alert_payload(alert: Any) -> dict[str, Any]:
    """The webhook body: what an operator needs to triage without opening the console."""
    return {
        "event": "alert.created",
        "public_id": alert.public_id,
        "kind": str(alert.kind.value if hasattr(alert.kind, "value") else alert.kind),
        "site_id": alert.site_id,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "confidence": alert.confidence,
        "danger_level": alert.danger_level,
        "longitude": None if alert.location is None else alert.location.x,
        "latitude": None if alert.location is None else alert.location.y,
        "bearings": alert.bearings,
        "cameras": alert.cameras,
    }
