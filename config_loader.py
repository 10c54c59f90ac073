"""Load YAML configuration into pydantic models, with errors naming the file, the key and the line."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from vigie.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _key_lines(node: yaml.Node, path: tuple[object, ...] = ()) -> dict[tuple[object, ...], int]:
    """Map each key path of a YAML document to its 1-based line, so errors can point at it."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines.update(_key_lines(value_node, child))
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_key_lines(item, (*path, i)))
    return lines


def _nearest_line(lines: dict[tuple[object, ...], int], loc: tuple[object, ...]) -> int | None:
    # pydantic inserts union tags (e.g. the `type` value of a discriminated union) into locations, and a
    # missing key has no line of its own: keep the components that exist in the document.
    kept: tuple[object, ...] = ()
    for part in loc:
        if (*kept, part) in lines:
            kept = (*kept, part)
    return lines.get(kept)


def format_validation_error(source: str, err: ValidationError, lines: dict[tuple[object, ...], int]) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _nearest_line(lines, loc)
        where = f"{source}:{line}" if line else source
        got = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
        parts.append(f"{where}: {key}: {e['msg']}{got}")
    return "invalid configuration:\n  " + "\n  ".join(parts)


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """Parse `path` as YAML and validate it as `model`; problems are ConfigErrors naming file, key, line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {path} cannot be read as UTF-8 text: {exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc, _key_lines(node))) from exc
