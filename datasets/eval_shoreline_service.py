"""The real Manly CoastSnap snap through the service path, as an upload would go:
`python -m vigie.datasets.eval_shoreline_service [--repeats 3]`.

Each repeat builds a fresh migrated SQLite database, creates the Manly station from the shared dataset
(`station_from_geometry`), stores the water level CoastSnap rectified the snap at (`rectz`) as a water-level
series, ingests the snap (`ingest_photo`: checks, quality score, capture time from the file name), then
claims and processes it (`process_photo_row`: registration, camera pose, rectification, extraction) and
reads the stored `shorelines` row back. Printed:

- the stored shoreline vs CoastSnap's mapped shoreline of the station, along the station's transects
  (stored per-transect distances vs the mapped line's crossing of each transect; signed: + ours seaward):
  mean, mean absolute, RMS, median absolute, 90th percentile, number of transects compared;
- the measure the end-to-end test bounds: median distance of the stored vertices to the mapped line;
- seconds per photo: ingest, first processing (includes preparing the station: reference keypoints) and
  processing again with the station prepared (what a running worker spends per photo).

The mapped shoreline is CoastSnap's of the station's reference plan, not necessarily of the 2022 snap's
date and tide: the distance is context (registration + pose + rectification + extraction + a real change
of the beach), not an error against ground truth.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import LineString, Point
from tqdm import tqdm

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "coastal" / "manly-coastsnap"
MAPPED = Path("reference-shoreline") / "Edit_Shoreline_Python.mat"


def mapped_shoreline_world(data: Path, station: Any) -> np.ndarray:
    """CoastSnap's mapped shoreline (local metres in the dataset) in the station's EPSG."""
    from scipy.io import loadmat

    local = np.asarray(loadmat(data / MAPPED, squeeze_me=True)["sl_xyz"], dtype=float)[:, :2]
    return station.local_to_world(local)


def crossing_distances(line_xy: np.ndarray, transects: np.ndarray) -> np.ndarray:
    """Distance (m) from each transect's landward origin to where `line_xy` crosses it (NaN: no crossing;
    several crossings: the one nearest the origin). `transects` rows: x0, y0, x1, y1 in the same CRS."""
    line = LineString(line_xy)
    out = np.full(len(transects), np.nan)
    for k, (x0, y0, x1, y1) in enumerate(transects):
        hit = line.intersection(LineString([(x0, y0), (x1, y1)]))
        points = [g for g in getattr(hit, "geoms", [hit]) if not g.is_empty and g.geom_type == "Point"]
        if points:
            out[k] = min(Point(x0, y0).distance(p) for p in points)
    return out


def along_transects(ours: np.ndarray, mapped: np.ndarray) -> dict[str, float | int]:
    both = np.isfinite(ours) & np.isfinite(mapped)
    diff = ours[both] - mapped[both]
    if len(diff) == 0:
        return {"transects_compared": 0}
    return {
        "transects_compared": int(both.sum()),
        "mean_signed_m": round(float(diff.mean()), 2),
        "mean_abs_m": round(float(np.abs(diff).mean()), 2),
        "rms_m": round(float(np.sqrt((diff**2).mean())), 2),
        "median_abs_m": round(float(np.median(np.abs(diff))), 2),
        "p90_abs_m": round(float(np.percentile(np.abs(diff), 90)), 2),
    }


def run_once(data: Path, work: Path) -> dict[str, Any]:
    """One fresh database, one upload, one processing; the stored result and the timings."""
    from sqlalchemy import select

    from vigie.calibration.crs import to_projected
    from vigie.pipelines.shoreline.demo import SNAP, SOLVED, coastsnap_water_level
    from vigie.pipelines.shoreline.station import load_manly_station
    from vigie.pipelines.shoreline.water_level import WaterLevelSample
    from vigie.services import shoreline_photos, shoreline_stations
    from vigie.services.schemas import SiteCreate
    from vigie.services.sites import create_site
    from vigie.store.db import make_engine, session_scope, upgrade
    from vigie.store.models import Shoreline

    url = f"sqlite:///{(work / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    media = work / "media"
    station = load_manly_station(data)
    snap = (data / SNAP).read_bytes()
    level = coastsnap_water_level(data / SOLVED)
    with session_scope(engine) as session:
        create_site(
            session,
            data=SiteCreate(slug="manly-beach", name="Manly", kind="shoreline", timezone="Australia/Sydney"),
        )
        shoreline_stations.station_from_geometry(
            session,
            geometry=station,
            site_slug="manly-beach",
            slug="manly",
            name="Manly CoastSnap",
            media_dir=media,
            timezone="Australia/Sydney",
        )
        taken, _ = shoreline_photos.capture_time(snap, filename=SNAP, client_time=None, timezone="UTC")
        assert taken is not None  # CoastSnap file names carry the time
        shoreline_photos.import_water_levels(
            session,
            slug="manly",
            source="CoastSnap rectz",
            samples=[WaterLevelSample(taken + timedelta(minutes=m), level) for m in (-10, 10)],
        )
    cache = shoreline_photos.StationCache(media_dir=media)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with session_scope(engine) as session:
        photo_id = shoreline_photos.ingest_photo(
            session, slug="manly", data=snap, media_dir=media, filename=SNAP
        ).id
    timings["ingest_s"] = time.perf_counter() - started
    for key in ("first_process_s", "warm_process_s"):
        started = time.perf_counter()
        with session_scope(engine) as session:
            if key == "warm_process_s":  # the same photo again, the station already prepared
                shoreline_photos.reprocess(session, slug="manly")
                session.commit()
            photo = shoreline_photos.claim_next_pending(session)
            assert photo is not None and photo.id == photo_id
            shoreline_photos.process_photo_row(session, photo=photo, cache=cache)
            status, reason, rms = photo.status.value, photo.reject_reason, photo.reprojection_rms_px
        timings[key] = time.perf_counter() - started
        if status != "processed":
            raise SystemExit(f"the Manly snap was not processed: {status}: {reason}")
    with session_scope(engine) as session:
        stored = session.scalars(select(Shoreline).where(Shoreline.photo_id == photo_id)).one()
        lonlat = np.asarray(stored.geometry.coords, dtype=float)
        distances = np.array([np.nan if d is None else float(d) for d in stored.transect_distances])
        transects = np.array(
            [
                [t["x0"], t["y0"], t["x1"], t["y1"]]
                for t in shoreline_stations.get_station(session, slug="manly").transects
            ],
            dtype=float,
        )
    engine.dispose()
    mapped = mapped_shoreline_world(data, station)
    x, y = to_projected(lonlat[:, 0], lonlat[:, 1], station.epsg)
    reference = LineString(mapped)
    vertex_to_line = np.array([reference.distance(Point(a, b)) for a, b in zip(x, y, strict=True)])
    return {
        "reprojection_rms_px": round(float(rms), 2),
        "points": len(lonlat),
        "along_transects": along_transects(distances, crossing_distances(mapped, transects)),
        "vertex_to_mapped_line_median_m": round(float(np.median(vertex_to_line)), 2),
        "vertex_to_mapped_line_p90_m": round(float(np.percentile(vertex_to_line, 90)), 2),
        **{k: round(v, 2) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the CoastSnap Manly dataset folder")
    ap.add_argument("--repeats", type=int, default=3, help="fresh databases (timings: median over them)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if not (args.data / MAPPED).is_file():
        raise SystemExit(f"{args.data / MAPPED} is absent: pass --data (the manly-coastsnap folder)")
    if args.repeats < 1:
        raise SystemExit("--repeats: expected at least 1")
    runs = []
    for _ in tqdm(range(args.repeats), desc="Manly snap via the service", unit="run"):
        with tempfile.TemporaryDirectory(prefix="vigie-shoreline-eval-") as work:
            runs.append(run_once(args.data, Path(work)))
    first = runs[0]
    # Processing is deterministic: every run must store the same shoreline.
    stable = all(r["along_transects"] == first["along_transects"] for r in runs)
    summary = {
        "runs": args.repeats,
        "same_shoreline_every_run": stable,
        "reprojection_rms_px": first["reprojection_rms_px"],
        "points": first["points"],
        "along_transects": first["along_transects"],
        "vertex_to_mapped_line_median_m": first["vertex_to_mapped_line_median_m"],
        "vertex_to_mapped_line_p90_m": first["vertex_to_mapped_line_p90_m"],
        **{
            f"{k}_median": round(float(np.median([r[k] for r in runs])), 2)
            for k in ("ingest_s", "first_process_s", "warm_process_s")
        },
    }
    a = summary["along_transects"]
    print(
        f"stored shoreline vs CoastSnap's mapped shoreline, {a.get('transects_compared', 0)} transects: "
        f"mean {a.get('mean_signed_m')} m (+ seaward), mean abs {a.get('mean_abs_m')} m, "
        f"RMS {a.get('rms_m')} m, median abs {a.get('median_abs_m')} m, p90 {a.get('p90_abs_m')} m"
    )
    print(
        f"vertices to the mapped line: median {summary['vertex_to_mapped_line_median_m']} m, "
        f"p90 {summary['vertex_to_mapped_line_p90_m']} m; {summary['points']} points, "
        f"GCP RMS {summary['reprojection_rms_px']} px"
    )
    print(
        f"seconds per photo (median of {args.repeats}): ingest {summary['ingest_s_median']}, "
        f"first processing {summary['first_process_s_median']} (prepares the station), "
        f"then {summary['warm_process_s_median']}; same shoreline every run: {stable}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
