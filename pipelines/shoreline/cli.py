"""`vigie shoreline PHOTO|FOLDER --station STATION --out OUT [--water-level M]`.

One photo → one GeoJSON file at OUT. A folder → one `<photo stem>.geojson` per image in the folder OUT,
with a progress bar. Exit status 0 when every photo gave a shoreline, 1 when some were flagged (the GeoJSON
then holds a null geometry and the reason); bad arguments raise vigie.errors (the CLI maps them to 2/3).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vigie.errors import InvalidInputError, NotFoundError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("shoreline", help="extract the shoreline of citizen photos (CoastSnap station)")
    p.add_argument("photo", type=Path, help="a photo, or a folder of photos (JPEG/PNG)")
    p.add_argument(
        "--station",
        type=Path,
        required=True,
        help="station YAML, a folder with station.yaml, or the CoastSnap Manly dataset folder",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="GeoJSON file (one photo) or folder (a folder of photos)"
    )
    p.add_argument(
        "--water-level",
        type=float,
        default=None,
        dest="water_level",
        help="water level (tide + setup) in metres, in the station's vertical datum; without it "
        "photos are flagged",
    )
    p.add_argument("--plan", action="store_true", help="also write each plan image as <out stem>.plan.png")
    p.set_defaults(func=cmd_shoreline)


def _photos(path: Path) -> list[Path]:
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise NotFoundError(f"folder {path} holds no {'/'.join(IMAGE_SUFFIXES)} photos")
        return photos
    if not path.is_file():
        raise NotFoundError(f"photo {path} does not exist")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InvalidInputError(f"photo {path}: expected a {'/'.join(IMAGE_SUFFIXES)} file")
    return [path]


def cmd_shoreline(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from vigie.pipelines.shoreline.process import prepare_station, process_photo, result_to_geojson
    from vigie.pipelines.shoreline.station import load_station, read_image

    photos = _photos(args.photo)
    batch = args.photo.is_dir()
    if not batch and args.out.suffix.lower() not in (".geojson", ".json"):
        raise InvalidInputError(f"--out {args.out}: expected a .geojson file for one photo")
    station = load_station(args.station)
    prepared = prepare_station(station)
    if batch:
        args.out.mkdir(parents=True, exist_ok=True)
    flagged = 0
    for photo in tqdm(photos, desc="shoreline", unit="photo", disable=not batch):
        result = process_photo(read_image(photo), prepared, args.water_level)
        target = args.out / f"{photo.stem}.geojson" if batch else args.out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result_to_geojson(result, station, photo=photo.name), indent=1))
        if args.plan and result.plan is not None:
            cv2.imwrite(str(target.with_suffix(".plan.png")), result.plan.north_up())
        if result.status == "ok":
            assert result.shoreline is not None and result.pose is not None
            line = (
                f"{photo.name}: ok, {len(result.shoreline)} points, GCP RMS {result.pose.rms_px:.1f} px, "
                f"{result.seconds:.1f} s -> {target}"
            )
        else:
            flagged += 1
            line = f"{photo.name}: flagged: {result.reason} -> {target}"
        (tqdm.write if batch else print)(line)
    return 0 if flagged == 0 else 1
