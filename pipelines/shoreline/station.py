"""A shoreline station's fixed geometry: CRS, GCPs, reference image(s), stable mask, transects, plan grid.

Coordinates: the station works in a local frame, metres east/north of `origin_xy` in `epsg` (CoastSnap's
convention: world = local + origin, no rotation). GCPs, transects, the camera and the plan grid are local;
`local_to_world` turns results into EPSG coordinates. On construction the GCPs are checked against the CRS
(a projected CRS in metres whose area of use holds them) and, when `location_lonlat` is given, against
where the station is, so GCPs typed in another CRS are refused with a clear message.

Station files (`load_station`): a YAML file, a folder holding `station.yaml`, or a CoastSnap Manly dataset
folder (`load_manly_station`). YAML keys: name, epsg, origin [x, y], location_lonlat [lon, lat] (optional),
gcps [{name, x, y, z}] (local metres), camera {x, y, z, azimuth_deg, tilt_deg, roll_deg, hfov_deg, width,
height}, plan {x: [min, max], y: [min, max], resolution_m}, transects [{x0, y0, x1, y1}] (landward end
first), references [{image, mask (optional), gcp_uv: [[u, v], ...] or camera: {...}}]; relative paths are
relative to the YAML file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from vigie.calibration import crs as crs_mod
from vigie.calibration.camera_pose import CameraModel
from vigie.calibration.rectification import PlanGrid
from vigie.errors import ConfigError, InvalidInputError, NotFoundError

MANLY_YAML = Path(__file__).with_name("stations") / "manly.yaml"
# GCPs farther than this from the declared station location mean a wrong CRS or origin.
MAX_GCP_DISTANCE_M = 20_000.0


@dataclass(frozen=True, slots=True)
class Transects:
    """Cross-shore lines in the local frame: each starts landward at `origin` and runs `length_m` seaward
    along `azimuth_rad` (clockwise from +y)."""

    origin: np.ndarray  # (N, 2)
    azimuth_rad: np.ndarray  # (N,)
    length_m: np.ndarray  # (N,)

    @classmethod
    def from_endpoints(cls, start_xy: np.ndarray, end_xy: np.ndarray) -> Transects:
        start, end = np.asarray(start_xy, float).reshape(-1, 2), np.asarray(end_xy, float).reshape(-1, 2)
        if start.shape != end.shape or len(start) == 0:
            raise InvalidInputError(
                f"transects: expected matching (N, 2) start and end points, got {start.shape} and {end.shape}"
            )
        d = end - start
        return cls(
            origin=start, azimuth_rad=np.arctan2(d[:, 0], d[:, 1]), length_m=np.hypot(d[:, 0], d[:, 1])
        )

    def __len__(self) -> int:
        return len(self.origin)

    @property
    def direction(self) -> np.ndarray:
        return np.stack([np.sin(self.azimuth_rad), np.cos(self.azimuth_rad)], axis=1)

    @property
    def end(self) -> np.ndarray:
        return self.origin + self.direction * self.length_m[:, None]


@dataclass(frozen=True, slots=True)
class ReferenceImage:
    """A station photo whose GCP pixels are known; new photos are registered to it."""

    name: str
    image: np.ndarray  # BGR uint8
    gcp_uv: np.ndarray  # (N, 2), NaN for GCPs not visible in this image
    stable_mask: np.ndarray | None = None  # bool (H, W): regions that do not change (buildings, rocks)

    def __post_init__(self) -> None:
        h, w = self.image.shape[:2]
        if self.stable_mask is not None and self.stable_mask.shape != (h, w):
            raise InvalidInputError(
                f"reference {self.name}: stable mask is {self.stable_mask.shape[::-1]}, "
                f"image is {w}x{h}; expected the same size"
            )


@dataclass(frozen=True, slots=True)
class StationGeometry:
    name: str
    epsg: int
    origin_xy: tuple[float, float]
    gcp_names: tuple[str, ...]
    gcp_xyz: np.ndarray  # (N, 3) local metres
    references: tuple[ReferenceImage, ...]
    transects: Transects
    camera_guess: CameraModel  # for the first reference image's size
    plan_grid: PlanGrid
    location_lonlat: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        xyz = np.asarray(self.gcp_xyz, dtype=float)
        if xyz.ndim != 2 or xyz.shape[1] != 3 or len(xyz) != len(self.gcp_names):
            raise InvalidInputError(
                f"station {self.name}: expected one (x, y, z) per GCP name, got {xyz.shape} "
                f"for {len(self.gcp_names)} names"
            )
        if not self.references:
            raise InvalidInputError(f"station {self.name}: at least one reference image is required")
        for ref in self.references:
            if ref.gcp_uv.shape != (len(xyz), 2):
                raise InvalidInputError(
                    f"station {self.name}, reference {ref.name}: expected {len(xyz)} GCP "
                    f"pixels, got {ref.gcp_uv.shape}"
                )
        check_station_crs(
            self.epsg, self.local_to_world(xyz[:, :2]), self.location_lonlat, what=f"station {self.name} GCPs"
        )

    def local_to_world(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(xy, dtype=float).reshape(-1, 2) + np.asarray(self.origin_xy, dtype=float)

    def world_to_local(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(xy, dtype=float).reshape(-1, 2) - np.asarray(self.origin_xy, dtype=float)


def check_station_crs(
    epsg: int, world_xy: np.ndarray, location_lonlat: tuple[float, float] | None, *, what: str = "GCPs"
) -> None:
    """Refuse world coordinates that cannot be in `epsg`: not a metric CRS, outside its area of use, or
    (given the station's lon/lat) far from the station."""
    crs_mod.require_projected(epsg)
    lon, lat = crs_mod.to_wgs84(world_xy[:, 0], world_xy[:, 1], epsg)
    if location_lonlat is None:
        return
    crs_mod.check_lonlat(location_lonlat[0], location_lonlat[1], what=f"{what}: station location")
    # Equirectangular distance: enough to tell metres from thousands of kilometres.
    lat0 = math.radians(location_lonlat[1])
    dx = np.radians(np.asarray(lon) - location_lonlat[0]) * math.cos(lat0) * 6_371_000.0
    dy = np.radians(np.asarray(lat) - location_lonlat[1]) * 6_371_000.0
    far = np.hypot(dx, dy)
    if (far > MAX_GCP_DISTANCE_M).any():
        i = int(np.argmax(far))
        raise InvalidInputError(
            f"{what}: point {i} read as EPSG:{epsg} lies at ({float(lon[i]):.4f}, {float(lat[i]):.4f}), "
            f"{far[i] / 1000:.0f} km from the station location {tuple(location_lonlat)}; wrong CRS or origin?"
        )


# --- loading ---


def read_image(path: Path) -> np.ndarray:
    """BGR uint8 image from a file (OpenCV decoder; no PIL, which ultralytics patches globally)."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if data is None:
        raise NotFoundError(f"image {path} does not exist")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError(f"{path} is not a readable image (expected JPEG or PNG)")
    return image


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A binary mask resized to `size` (width, height)."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    mask = None if data is None else cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise NotFoundError(f"mask {path} does not exist or is not an image")
    return cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST) > 127


def camera_from_mapping(values: dict, *, width: int, height: int, where: str) -> CameraModel:
    try:
        hfov = float(values["hfov_deg"])
        return CameraModel(
            width=int(values.get("width", width)),
            height=int(values.get("height", height)),
            focal_px=(int(values.get("width", width)) / 2) / math.tan(math.radians(hfov) / 2),
            x=float(values["x"]),
            y=float(values["y"]),
            z=float(values["z"]),
            azimuth_rad=math.radians(float(values["azimuth_deg"])),
            tilt_rad=math.radians(float(values["tilt_deg"])),
            roll_rad=math.radians(float(values.get("roll_deg", 0.0))),
        )
    except KeyError as exc:
        raise ConfigError(
            f"{where}: camera needs {exc.args[0]!r} (x, y, z, azimuth_deg, tilt_deg, hfov_deg)"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: camera values must be numbers ({exc})") from exc


def _require(mapping: dict, key: str, where: str) -> object:
    if key not in mapping:
        raise ConfigError(f"{where}: missing key {key!r}")
    return mapping[key]


def load_station_yaml(path: Path, *, data_dir: Path | None = None) -> StationGeometry:
    """Read a station YAML file (format in the module docstring). Relative image paths resolve against
    `data_dir` when given, else the YAML's folder."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"station file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of station keys")
    base = Path(data_dir) if data_dir is not None else path.parent
    where = str(path)
    gcps = _require(doc, "gcps", where)
    names = tuple(str(g["name"]) for g in gcps)
    xyz = np.array([[g["x"], g["y"], g["z"]] for g in gcps], dtype=float)
    plan = _require(doc, "plan", where)
    grid = PlanGrid(
        float(plan["x"][0]),
        float(plan["x"][1]),
        float(plan["y"][0]),
        float(plan["y"][1]),
        float(plan["resolution_m"]),
    )
    t = _require(doc, "transects", where)
    if isinstance(t, str):
        transects = load_transects_csv(base / t)
    else:
        transects = Transects.from_endpoints(
            np.array([[r["x0"], r["y0"]] for r in t], float), np.array([[r["x1"], r["y1"]] for r in t], float)
        )
    refs = []
    for i, r in enumerate(_require(doc, "references", where)):
        image = read_image(base / r["image"])
        h, w = image.shape[:2]
        if "gcp_uv" in r:
            uv = np.array(r["gcp_uv"], dtype=float)
        elif "camera" in r:
            uv, seen = camera_from_mapping(
                r["camera"], width=w, height=h, where=f"{where} references[{i}]"
            ).project(xyz)
            uv[~seen] = np.nan
        else:
            raise ConfigError(f"{where} references[{i}]: give gcp_uv (pixels of each GCP) or a solved camera")
        mask = read_mask(base / r["mask"], (w, h)) if r.get("mask") else None
        refs.append(
            ReferenceImage(
                name=str(r.get("name", Path(r["image"]).stem)), image=image, gcp_uv=uv, stable_mask=mask
            )
        )
    h0, w0 = refs[0].image.shape[:2] if refs else (0, 0)
    camera = camera_from_mapping(_require(doc, "camera", where), width=w0, height=h0, where=where)
    loc = doc.get("location_lonlat")
    return StationGeometry(
        name=str(_require(doc, "name", where)),
        epsg=int(_require(doc, "epsg", where)),
        origin_xy=tuple(float(v) for v in _require(doc, "origin", where)),  # type: ignore[arg-type]
        gcp_names=names,
        gcp_xyz=xyz,
        references=tuple(refs),
        transects=transects,
        camera_guess=camera,
        plan_grid=grid,
        location_lonlat=None if loc is None else (float(loc[0]), float(loc[1])),
    )


def load_transects_csv(path: Path) -> Transects:
    """Transects from a CSV of x0,y0,x1,y1 rows (local metres, landward end first; a header is allowed)."""
    if not Path(path).is_file():
        raise NotFoundError(f"transects file {path} does not exist")
    rows = np.genfromtxt(path, delimiter=",", comments="#", skip_header=0)
    rows = rows[~np.isnan(rows).any(axis=1)] if rows.ndim == 2 else rows
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise ConfigError(f"{path}: expected rows of x0,y0,x1,y1")
    return Transects.from_endpoints(rows[:, :2], rows[:, 2:])


def manly_dir(shared_datasets: Path) -> Path:
    return Path(shared_datasets) / "coastal" / "manly-coastsnap"


def load_manly_station(data_dir: Path) -> StationGeometry:
    """The CoastSnap Manly station from the shared dataset folder: its 7 GCPs (from CoastSnap's solved
    files), the 132 transects of the reference shoreline, the 0.5 m plan grid and one reference image (the
    2022 snap, whose camera `stations/manly.yaml` records; see docs/shoreline.md for how it was solved)."""
    from scipy.io import loadmat  # scipy.io is slow to import: only needed for CoastSnap's .mat files

    data_dir = Path(data_dir)
    globs = data_dir / "reference-shoreline" / "GlobsOutput.mat"
    if not globs.is_file():
        raise NotFoundError(f"{data_dir} is not the CoastSnap Manly folder: {globs.name} is missing")
    xyz = np.asarray(loadmat(globs, squeeze_me=True)["xyz"], dtype=float)
    mapped = loadmat(
        data_dir / "reference-shoreline" / "MapShorelinePython.mat",
        squeeze_me=True,
        variable_names=["transectsX", "transectsY"],
    )
    tx, ty = mapped["transectsX"], mapped["transectsY"]
    transects = Transects.from_endpoints(np.stack([tx[0], ty[0]], 1), np.stack([tx[1], ty[1]], 1))
    doc = yaml.safe_load(MANLY_YAML.read_text())
    refs = []
    for r in doc["references"]:
        image = read_image(data_dir / r["image"])
        h, w = image.shape[:2]
        cam = camera_from_mapping(r["camera"], width=w, height=h, where=str(MANLY_YAML))
        uv, seen = cam.project(xyz)
        uv[~seen] = np.nan
        mask = None
        if r.get("mask"):
            mask_cam = camera_from_mapping(r["mask_camera"], width=w, height=h, where=str(MANLY_YAML))
            mask = warp_mask_between_cameras(read_mask(data_dir / r["mask"], (w, h)), mask_cam, cam)
        refs.append(ReferenceImage(name=r["name"], image=image, gcp_uv=uv, stable_mask=mask))
    h0, w0 = refs[0].image.shape[:2]
    plan = doc["plan"]
    return StationGeometry(
        name=doc["name"],
        epsg=int(doc["epsg"]),
        origin_xy=(float(doc["origin"][0]), float(doc["origin"][1])),
        gcp_names=tuple(f"gcp{i + 1}" for i in range(len(xyz))),
        gcp_xyz=xyz,
        references=tuple(refs),
        transects=transects,
        camera_guess=camera_from_mapping(doc["camera"], width=w0, height=h0, where=str(MANLY_YAML)),
        plan_grid=PlanGrid(plan["x"][0], plan["x"][1], plan["y"][0], plan["y"][1], plan["resolution_m"]),
        location_lonlat=tuple(doc["location_lonlat"]),
    )  # type: ignore[arg-type]


def warp_mask_between_cameras(mask: np.ndarray, source: CameraModel, target: CameraModel) -> np.ndarray:
    """A mask drawn on a photo from `source` moved into `target`'s image, for two cameras at the same place
    (a pure rotation and zoom: H = K_t R_t R_s^T K_s^-1)."""
    src = source.scaled(mask.shape[1] / source.width) if mask.shape[1] != source.width else source
    h = (
        target.intrinsic_matrix()
        @ target.rotation()
        @ src.rotation().T
        @ np.linalg.inv(src.intrinsic_matrix())
    )
    warped = cv2.warpPerspective(
        mask.astype(np.uint8), h, (target.width, target.height), flags=cv2.INTER_NEAREST
    )
    return warped > 0


def load_station(path: Path) -> StationGeometry:
    """A station from a YAML file, a folder holding `station.yaml`, or the CoastSnap Manly dataset folder."""
    path = Path(path)
    if path.is_dir():
        if (path / "station.yaml").is_file():
            return load_station_yaml(path / "station.yaml")
        if (path / "reference-shoreline" / "GlobsOutput.mat").is_file():
            return load_manly_station(path)
        raise NotFoundError(
            f"station folder {path} has no station.yaml (and is not a CoastSnap Manly folder)"
        )
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_station_yaml(path)
    raise InvalidInputError(f"station {path}: expected a YAML file or a folder holding station.yaml")


def gcp_table(station: StationGeometry) -> Sequence[tuple[str, float, float, float]]:
    """(name, easting, northing, z) of each GCP in the station's EPSG, for reports."""
    world = station.local_to_world(station.gcp_xyz[:, :2])
    return [
        (n, float(e), float(no), float(z))
        for n, (e, no), z in zip(station.gcp_names, world, station.gcp_xyz[:, 2], strict=True)
    ]
