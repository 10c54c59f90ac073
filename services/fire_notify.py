"""Webhook notification of new fire alerts: JSON POSTs from a background thread, never blocking alerts.

`WebhookNotifier.notify(payload)` only puts the payload on a bounded queue; one daemon thread posts it to
every URL, retrying failures with exponential backoff. A full queue drops the notification (logged):
the alert itself is in the database either way, and the console shows it.

Pipelines call `notify_after_commit(session, notifier, payload)` from their write, so that nothing is
announced for an alert whose transaction then fails.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from vigie import __version__
from vigie.errors import ConfigError
from vigie.store.db import call_after_commit

logger = logging.getLogger(__name__)

_STOP = object()


class WebhookNotifier:
    """Posts JSON payloads to `urls` from one background thread.

    retries: further tries after the first failure of one URL; `backoff_s` doubles after each failure.
    A 4xx answer (other than 408/429) is not retried: the receiver refuses the payload itself.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_queue: int = 256,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for url in urls:
            if not str(url).startswith(("http://", "https://")):
                raise ConfigError(f"webhook URL {url!r}: expected http:// or https://")
        self.urls = [str(u) for u in urls]
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def notify(self, payload: dict[str, Any]) -> bool:
        """Queue `payload` for every URL; False if dropped (queue full) or there is no URL."""
        if not self.urls:
            return False
        self._ensure_thread()
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.dropped += 1
            logger.error("webhook queue full (%d): notification dropped", self._queue.maxsize)
            return False
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (up to `timeout_s`), then stop the thread."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            logger.warning("webhook queue still full at shutdown; pending notifications are lost")
            return
        thread.join(timeout_s)

    def _ensure_thread(self) -> None:
        # Started on first use, not in the constructor: building a notifier has no side effect.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vigie-fire-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            if payload is _STOP:
                return
            body = json.dumps(payload, default=str).encode()
            for url in self.urls:
                if self._post_with_retries(url, body):
                    self.sent += 1
                else:
                    self.failed += 1

    def _post_with_retries(self, url: str, body: bytes) -> bool:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            error = self._post(url, body)
            if error is None:
                return True
            retryable, reason = error
            if not retryable or attempt == self.retries:
                logger.error("webhook %s failed after %d attempt(s): %s", url, attempt + 1, reason)
                return False
            logger.warning(
                "webhook %s attempt %d failed (%s); retrying in %.1f s", url, attempt + 1, reason, delay
            )
            self._sleep(delay)
            delay *= 2
        return False

    def _post(self, url: str, body: bytes) -> tuple[bool, str] | None:
        """None on success, else (retryable, reason)."""
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"vigie/{__version__}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            return exc.code >= 500 or exc.code in (408, 429), f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            return True, str(getattr(exc, "reason", exc))


def alert_payload(alert_json: dict[str, Any], *, event_name: str = "alert.created") -> dict[str, Any]:
    """The webhook body: `{"event": ..., "alert": AlertOut as JSON}`."""
    return {"event": event_name, "alert": alert_json}


def notify_after_commit(session: Session, notifier: WebhookNotifier, payload: dict[str, Any]) -> None:
    """Queue `payload` when the session's current transaction commits; forget it if it rolls back."""
    call_after_commit(session, functools.partial(notifier.notify, payload))
