"""The YAML site file: strict validation with errors naming file, line, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.config import load_site_config, sync_site
from vigie.errors import ConfigError
from vigie.vision.source_config import FileSourceConfig, StreamSourceConfig

GOOD = """\
site: {slug: fecamp, name: Fécamp, kind: traffic, longitude: 0.37, latitude: 49.76}
cameras:
  - slug: quai-1
    name: Quai
    role: traffic
    heading_deg: 350
    hfov_deg: 70
    source: {type: file, path: clip.mp4, target_fps: 5}
  - slug: port
    name: Port
    role: traffic
    source: {type: stream, url: "rtsp://user:secret@10.0.0.5/live"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_and_resolves_relative_paths(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, GOOD))
    assert config.site.slug == "fecamp"
    first, second = (c.source for c in config.cameras)
    assert isinstance(first, FileSourceConfig) and first.path == tmp_path / "clip.mp4"
    assert isinstance(second, StreamSourceConfig)


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("    hfov_deg: 70", "    hfov_deg: 270"), ["site.yaml:7", "cameras.0.hfov_deg"]),
        (
            ("    role: traffic\n    heading", "    role: traffic\n    colour: red\n    heading"),
            ["site.yaml:6", "cameras.0.colour", "Extra inputs are not permitted"],
        ),
        (("longitude: 0.37", "longitude: 370"), ["site.yaml:1", "site.longitude", "370"]),
        (("type: stream, url", "type: stream, uri"), ["cameras.1.source", "url", "Field required"]),
        (("kind: traffic", "kind: trafic"), ["site.kind", "'trafic'"]),
    ],
)
def test_errors_name_file_line_key_and_expectation(
    tmp_path: Path, mutation: tuple[str, str], expected: list[str]
) -> None:
    old, new = mutation
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        load_site_config(write(tmp_path, GOOD.replace(old, new, 1)))
    for fragment in expected:
        assert fragment in str(err.value)


def test_yaml_syntax_error_points_at_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"site.yaml:3:\d+: invalid YAML"):
        load_site_config(write(tmp_path, "site:\n  slug: a\n    name: b\ncameras: []\n"))


def test_missing_file_and_duplicate_slugs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_site_config(tmp_path / "nope.yaml")
    dup = GOOD.replace("slug: port", "slug: quai-1")
    with pytest.raises(ConfigError, match=r"duplicate camera slugs \['quai-1'\]"):
        load_site_config(write(tmp_path, dup))


def test_sync_site_is_idempotent_and_redacts_secrets(session, tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, GOOD))
    first = sync_site(session, config)
    session.commit()
    changed = load_site_config(write(tmp_path, GOOD.replace("heading_deg: 350", "heading_deg: 10")))
    second = sync_site(session, changed)
    session.commit()
    assert {k: v.camera_id for k, v in first.items()} == {k: v.camera_id for k, v in second.items()}
    from vigie.services.cameras import get_camera

    quai = get_camera(session, camera_id=second["quai-1"].camera_id)
    port = get_camera(session, camera_id=second["port"].camera_id)
    assert quai.heading_deg == 10
    assert "secret" not in (port.source_uri or "")


PTZ = """\
site: {slug: sarthe, name: Sarthe, kind: fire, longitude: 0.2, latitude: 48.0}
cameras:
  - slug: tour-1
    name: Tour 1
    role: lookout
    hfov_deg: 54
    poses:
      - {name: nord, heading_deg: 0}
      - {name: est, heading_deg: 90}
    source:
      type: snapshot
      url: "http://admin:secret@10.0.0.7/ISAPI/Streaming/channels/101/picture"
      presets:
        - {pose: nord, goto_url: "http://admin:secret@10.0.0.7/ISAPI/PTZCtrl/channels/1/presets/1/goto"}
        - {pose: est, goto_url: "http://admin:secret@10.0.0.7/ISAPI/PTZCtrl/channels/1/presets/2/goto"}
"""


def test_ptz_patrol_presets_must_be_declared_poses(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, PTZ))
    assert [p.pose for p in config.cameras[0].source.presets] == ["nord", "est"]
    with pytest.raises(ConfigError) as err:
        load_site_config(write(tmp_path, PTZ.replace("- {pose: est", "- {pose: ouest")))
    assert "cameras.0" in str(err.value) and "pose(s) ouest not among this camera's poses (est, nord)" in str(
        err.value
    )
