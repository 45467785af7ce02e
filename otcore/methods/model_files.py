"""Model files as data: tensors plus a JSON header, read back without running any pickled code.

A model file is one ``torch.save`` archive holding only ``{"format": str, "header": str (JSON),
"tensors": {group: {name: Tensor}}}``. It is read with ``torch.load(weights_only=True)``, whose
restricted unpickler admits tensors and plain containers only, so a planted ``.pt`` whose unpickling
would call a function is refused (:class:`ModelFileError`) before anything in it runs.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch

__all__ = ["MODEL_FORMAT", "ModelFileError", "write_model_file", "read_model_file"]

#: The format tag written into every model file.
MODEL_FORMAT = "otstudio-model/2"


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, or holds more than tensors and plain data."""


def write_model_file(
    path: str | Path, header: dict[str, Any], tensors: dict[str, dict[str, torch.Tensor]]
) -> Path:
    """Write ``header`` (JSON-serialisable) and named tensor groups atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": MODEL_FORMAT,
        "header": json.dumps(header, sort_keys=True),
        "tensors": {g: {k: v.detach().cpu().contiguous() for k, v in d.items()} for g, d in tensors.items()},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def load_plain(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with every refusal turned into one clear :class:`ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError(
            f"refusing to load {path}: it holds Python objects, not only tensors and plain data "
            "(a model file must be data; retrain the model if it was written by an old version)"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError) as exc:
        raise ModelFileError(f"{path} is not a readable model file ({type(exc).__name__})") from exc


def read_model_file(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """The ``(header, tensors)`` of a file written by :func:`write_model_file`."""
    blob = load_plain(path, map_location)
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path} is not an otstudio model file (format {MODEL_FORMAT})")
    try:
        header = json.loads(str(blob["header"]))
        tensors = blob["tensors"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} has a damaged header") from exc
    if not isinstance(header, dict) or not isinstance(tensors, dict):
        raise ModelFileError(f"{path} has a damaged header")
    return header, tensors
