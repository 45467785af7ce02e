"""The one place that chooses a compute device. Everything else takes ``device=``
arguments or follows the device of its input tensors."""

from __future__ import annotations

import torch

from otcore.settings import env_device

__all__ = ["default_device"]


def default_device() -> torch.device:
    """CUDA when present (unless ``OTSTUDIO_DEVICE`` says otherwise), else CPU."""
    wanted = env_device()
    if wanted:
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
