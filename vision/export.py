"""Export an ultralytics model to a faster runtime format (ONNX on CPU, OpenVINO, TensorRT on NVIDIA GPUs).

Exports are cached beside the model, so that an export never outlives the exact weights it came from:
- manifest models: `<weights_dir>/NAME/VERSION/exports/<format>-<imgsz>[-fp16][-dynamic]-b<batch>/`;
- a model given by path: `<folder>/<stem>.exports/<sha256 prefix>/<same variant folder>/`."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Literal

import torch

from vigie.errors import ConfigError, ModelUnavailableError
from vigie.vision.backends.ultralytics_backend import load_yolo
from vigie.vision.detector import file_version, locate_model, resolve_device

log = logging.getLogger(__name__)

EXPORT_INFO = "vigie-export.json"  # written beside an export of a manifest model

ExportFormat = Literal["onnx", "openvino", "engine"]


def _exported_path(folder: Path, stem: str, format: ExportFormat) -> Path:
    return (
        folder
        / {"onnx": f"{stem}.onnx", "openvino": f"{stem}_openvino_model", "engine": f"{stem}.engine"}[format]
    )


def _write_origin(folder: Path, model: str, version: str) -> None:
    """Lets a detector built from the exported file report the manifest model it came from."""
    (folder / EXPORT_INFO).write_text(json.dumps({"model": model, "version": version}), encoding="utf-8")


def export_model(
    name_or_path: str,
    format: ExportFormat = "onnx",
    imgsz: int | None = None,
    half: bool = False,
    device: str = "auto",
    *,
    dynamic: bool = False,
    batch: int = 1,
    output_dir: Path | None = None,
    weights_dir: Path | None = None,
    force: bool = False,
) -> Path:
    """Export a manifest model (or a `.pt` path) and return the exported file or folder.

    `dynamic=True` lets ONNX/TensorRT accept any batch size up to `batch`; a static export runs batches
    of exactly `batch` (ultralytics splits or pads larger/smaller batches).
    """
    if format not in ("onnx", "openvino", "engine"):
        raise ConfigError(f"export format {format!r} is not supported; expected onnx, openvino or engine")
    spec, _resolved, source = locate_model(name_or_path, "ultralytics", weights_dir=weights_dir)
    if source.suffix.lower() != ".pt":
        raise ConfigError(f"export needs a PyTorch .pt model, got {source}")
    resolved_device, half = resolve_device(
        device, half=half, cuda_devices=torch.cuda.device_count(), backend="export"
    )
    if format == "engine" and not resolved_device.startswith("cuda"):
        raise ConfigError(
            "TensorRT (format='engine') export needs a CUDA device; use format='onnx' on a CPU host"
        )
    size = imgsz or (spec.input_size if spec is not None else 640)
    variant = f"{format}-{size}{'-fp16' if half else ''}{'-dynamic' if dynamic else ''}-b{batch}"
    if output_dir is None:
        base = (
            source.parent / "exports"
            if spec is not None
            else source.parent / f"{source.stem}.exports" / (file_version(source).split(":", 1)[1])
        )
        output_dir = base / variant
    target = _exported_path(output_dir, source.stem, format)
    if target.exists() and not force:
        if spec is not None and not (output_dir / EXPORT_INFO).is_file():
            _write_origin(output_dir, spec.name, f"{spec.version}+{variant}")
        return target

    output_dir.mkdir(parents=True, exist_ok=True)
    # ultralytics writes the export beside the checkpoint, so export from a copy placed in output_dir.
    work_copy = output_dir / source.name
    if work_copy.resolve() != source.resolve():
        shutil.copy2(source, work_copy)
    model = load_yolo(work_copy, resolved_device)
    log.info(
        "exporting %s to %s (imgsz %d, %s, batch %d)", source, format, size, "fp16" if half else "fp32", batch
    )
    try:
        produced = Path(
            model.export(
                format=format,
                imgsz=size,
                quantize=16 if half else None,
                device=resolved_device,
                dynamic=dynamic,
                batch=batch,
                verbose=False,
            )
        )
    except (RuntimeError, ValueError, ImportError, OSError) as exc:
        raise ModelUnavailableError(f"exporting {source} to {format} failed: {exc}") from exc
    finally:
        if work_copy != source:
            work_copy.unlink(missing_ok=True)
    if produced.resolve() != target.resolve():
        raise ModelUnavailableError(
            f"exporting {source} to {format}: expected {target}, ultralytics wrote {produced}"
        )
    if spec is not None:
        _write_origin(output_dir, spec.name, f"{spec.version}+{variant}")
    return target
