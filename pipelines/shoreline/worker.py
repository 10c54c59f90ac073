"""Background processing of uploaded photos: poll `shoreline_photos` for `pending` rows and process them.

Upload-driven (no camera stream), so there is no `build_pipeline`: `vigie shoreline-worker` calls
`run_worker`. Several workers may run: each claims a photo (pending → accepted) before processing it.
Media (photos, reference images, plan images) live under `settings.data_dir`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import Engine

from vigie.services.shoreline_photos import StationCache, claim_next_pending, process_photo_row
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import PhotoStatus

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 5.0


def media_dir(settings: Settings) -> Path:
    return Path(settings.data_dir)


def process_pending(
    *,
    engine: Engine,
    cache: StationCache,
    limit: int | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Process pending photos until none is left (or `limit`); returns how many were processed."""
    factory = make_sessionmaker(engine)
    done = 0
    while (limit is None or done < limit) and not (stop_event is not None and stop_event.is_set()):
        with factory() as session:
            photo = claim_next_pending(session)
            if photo is None:
                return done
            photo_id = photo.id
            try:
                process_photo_row(session, photo=photo, cache=cache)
                session.commit()
            # One catch-all per photo (the worker loop): a crash on one photo must not stop the others.
            except Exception as exc:
                session.rollback()
                log.exception("shoreline photo %s failed", photo_id)
                failed = session.get(type(photo), photo_id)
                if failed is not None:
                    failed.status, failed.reject_reason = PhotoStatus.FAILED, f"processing error: {exc}"
                    session.commit()
            else:
                log.info("shoreline photo %s: %s", photo_id, photo.status.value)
        done += 1
    return done


def run_worker(*, settings: Settings, engine: Engine, stop_event: threading.Event, once: bool = False) -> int:
    """Poll for pending photos every few seconds until `stop_event` is set (`once`: drain and return)."""
    cache = StationCache(media_dir=media_dir(settings))
    total = 0
    while not stop_event.is_set():
        total += process_pending(engine=engine, cache=cache, stop_event=stop_event)
        if once:
            break
        stop_event.wait(POLL_INTERVAL_S)
    return total
