"""The CLIP image/text encoder (open_clip) with batched tensor preprocessing, and :func:`load_clip`.

Model name → open_clip config → one factory; weights are separate from the architecture and resolved
locally first by :mod:`otcore.video.weights` (config choice, resolution order, loading), whose
public names are re-exported here. The weights' identity is their sha256 (:mod:`otcore.hashing`).

Image preprocessing runs batched on tensors (resize short side + center crop + normalize
in torch, on the model's device), following the model's own preprocess config.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F

from otcore.device import default_device
from otcore.hashing import file_sha256
from otcore.video.model_configs import register_model_configs
from otcore.video.weights import (
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    EXTRA_PRETRAINED,
    OFFLINE_ENV,
    WEIGHTS_ENV,
    ResolvedWeights,
    WeightsNotFound,
    build_with_weights,
    hf_cache_dir,
    network_allowed,
    pretrained_cfg,
    resolve_config_name,
    resolve_weights,
)

__all__ = [
    "ClipEncoder",
    "WeightsNotFound",
    "BATCH_MEMORY_FRACTION",
    "BATCH_MEMORY_CAP",
    "AUTO_BATCH_MAX",
    "available_memory",
    "frame_bytes",
    "auto_batch",
    "ResolvedWeights",
    "DEFAULT_MODEL",
    "DEFAULT_PRETRAINED",
    "WEIGHTS_ENV",
    "OFFLINE_ENV",
    "EXTRA_PRETRAINED",
    "load_clip",
    "resolve_config_name",
    "resolve_weights",
    "pretrained_cfg",
    "hf_cache_dir",
    "file_sha256",
    "network_allowed",
]

log = logging.getLogger(__name__)


_TEXT_PARTS = (
    "transformer",
    "token_embedding",
    "ln_final",
    "positional_embedding",
    "text_projection",
    "attn_mask",
)


def _drop_text_tower(model: torch.nn.Module) -> None:
    """Free the text tower of a CLIP model (about 40% of ViT-B-32's parameters)."""
    for name in _TEXT_PARTS:
        if name in model._modules:
            model._modules[name] = None
        elif name in model._parameters:
            model._parameters[name] = None
        elif name in model._buffers:
            model._buffers[name] = None
        elif hasattr(model, name) and isinstance(getattr(model, name), torch.Tensor):
            setattr(model, name, None)
    text = getattr(model, "text", None)  # CustomTextCLIP keeps its text tower in .text
    if isinstance(text, torch.nn.Module):
        model._modules["text"] = None
    _release_freed_memory()


def _release_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc keeps many small freed blocks otherwise)."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class _ClipModel(Protocol):
    """The methods of an open_clip ``CLIP`` model the encoder calls (open_clip has no type hints)."""

    def encode_image(self, image: torch.Tensor) -> torch.Tensor: ...

    def encode_text(self, text: torch.Tensor) -> torch.Tensor: ...


class ClipEncoder:
    """A loaded CLIP model with batched tensor preprocessing.

    Attributes: ``model`` (open_clip model, eval mode), ``tokenizer``, ``model_id``
    (e.g. ``"ViT-B-32-quickgelu/openai"`` or ``"otstudio-tiny/<sha12>"``), ``weights_id``
    (sha256 of the weights file, or ``"random"``), ``embed_dim``, ``image_size``
    (``(H, W)`` the model takes), ``device``, ``image_only`` (text tower freed to save memory).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        model_id: str,
        weights_id: str,
        device: torch.device | str | None = None,
        preprocess_cfg: dict[str, Any] | None = None,
        image_only: bool = False,
    ) -> None:
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.weights_id = weights_id
        cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
        cfg.update(preprocess_cfg or {})
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        if isinstance(size, int):
            size = (size, size)
        self.image_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.interpolation: str = str(cfg.get("interpolation", "bicubic"))
        self.resize_mode: str = str(cfg.get("resize_mode", "shortest"))
        mean = cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))
        std = cfg.get("std", (0.26862954, 0.26130258, 0.27577711))
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1) * 255.0
        self.embed_dim: int = int(self._infer_embed_dim())
        self.image_only = bool(image_only)
        if self.image_only:
            _drop_text_tower(self.model)

    @property
    def _clip(self) -> _ClipModel:
        return cast(_ClipModel, self.model)

    def _infer_embed_dim(self) -> int:
        proj = getattr(self.model, "text_projection", None)
        if isinstance(proj, torch.Tensor):
            return int(proj.shape[-1])
        vis = getattr(self.model.visual, "output_dim", None)
        if vis:
            return int(vis)
        with torch.inference_mode():
            x = torch.zeros(1, 3, *self.image_size, device=self.device)
            return int(self._clip.encode_image(x).shape[-1])

    @property
    def short_side(self) -> int:
        """Short side the decoder should resize frames to (the model's input size)."""
        return int(min(self.image_size))

    def fit(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` RGB → ``[B, 3, h, w]`` at the model's input size, values 0..255.

        Resize so the short side matches (skipped when it already does, then the result
        stays uint8 — 4x smaller to queue), center-crop (or pad for ``longest``). Batched torch.
        """
        x = torch.as_tensor(frames) if isinstance(frames, np.ndarray) else frames
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"frames must be [B, H, W, 3] RGB, got shape {tuple(x.shape)}")
        x = x.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        th, tw = self.image_size
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if self.resize_mode == "squash":
            if (h, w) != (th, tw):
                x = self._resize(x, th, tw)
        elif self.resize_mode == "longest":
            scale = min(th / h, tw / w)
            nh, nw = min(th, round(h * scale)), min(tw, round(w * scale))
            if (nh, nw) != (h, w):
                x = self._resize(x, nh, nw)
            ph, pw = th - nh, tw - nw
            x = F.pad(x.float(), (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=0.0)
        else:  # "shortest": short side to the input size, then center crop
            scale = max(th / h, tw / w)
            nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
            if (nh, nw) != (h, w):
                x = self._resize(x, nh, nw)
            top, left = (nh - th) // 2, (nw - tw) // 2
            x = x[:, :, top : top + th, left : left + tw]
        return x.contiguous()

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 3, h, w]`` values 0..255 (uint8 or float) → normalized float by the model's mean/std."""
        return (pixels.to(self.device).float() - self._mean) / self._std

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` RGB → normalized float ``[B, 3, h, w]`` on the model device.

        Resize so the short side matches the model input (skipped when it already does),
        center-crop, normalize by the model's mean/std — all batched in torch.
        """
        return self.normalize(self.fit(frames)).contiguous()

    def _resize(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        mode = self.interpolation if self.interpolation in ("bilinear", "bicubic") else "bilinear"
        x = F.interpolate(x.float(), size=(h, w), mode=mode, align_corners=False, antialias=True)
        return x.clamp_(0.0, 255.0)

    def encode_pixels(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Encode ``[B, 3, h, w]`` tensors → ``[B, D]`` float32. Float input is taken as already
        normalized (:meth:`preprocess`); uint8 input (:meth:`fit`) is normalized here."""
        with torch.inference_mode():
            if pixels.dtype == torch.uint8:
                pixels = self.normalize(pixels)
            out = self._clip.encode_image(pixels.to(self.device))
            out = out.float()
            return F.normalize(out, dim=-1) if normalize else out

    def encode_images(self, frames: np.ndarray | torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` frames → image embeddings ``[B, D]`` (L2-normalized by default)."""
        with torch.inference_mode():
            return self.encode_pixels(self.preprocess(frames), normalize=normalize)

    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """Strings → text embeddings ``[len(texts), D]`` (L2-normalized by default)."""
        if self.image_only:
            raise RuntimeError(
                f"{self.model_id} was loaded with image_only=True (text tower freed); load it again "
                "without image_only to encode text"
            )
        if isinstance(texts, str):
            texts = [texts]
        with torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            out = self._clip.encode_text(tokens).float()
            return F.normalize(out, dim=-1) if normalize else out

    def __repr__(self) -> str:
        return f"ClipEncoder(model_id={self.model_id!r}, embed_dim={self.embed_dim}, device={self.device})"


#: Share of the available memory a sized batch may take, and the cap on it (bytes): the model and
#: the rest of the process (and of the machine) keep the remainder.
BATCH_MEMORY_FRACTION = 0.25
BATCH_MEMORY_CAP = 512 * 2**20
#: Largest batch :func:`auto_batch` picks (larger batches do not encode faster on a CPU).
AUTO_BATCH_MAX = 64


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (Linux), else free pages × page size, else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def available_memory(device: torch.device | str) -> int | None:
    """Bytes available to a batch on ``device``: free memory of a CUDA device, else the host's
    available memory (``MemAvailable``: free plus reclaimable cache). None when unknown."""
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
            return int(free)
        except (RuntimeError, AssertionError):
            return None
    return _meminfo_available()


def frame_bytes(encoder: ClipEncoder, queue_size: int = 2) -> int:
    """Estimated bytes one frame of a batch holds while extracting with ``encoder``.

    Rule: the preprocessed float32 tensor ``3·h·w·4`` bytes, held by up to ``queue_size + 2`` batches at
    once (queued, being fitted, being encoded), plus the encoder's activations per frame. For a vision
    transformer (``T`` tokens of width ``W``, ``H`` heads) the live activations of one block are about
    ``8·T·W`` floats (residual stream, normalized input, q/k/v, the 4W-wide MLP hidden layer) plus
    ``2·H·T²`` (attention scores and their softmax); for any other image tower, 16 times the input
    tensor (a convolutional stem at half resolution with ~64 channels).
    """
    h, w = encoder.image_size
    pixels = 3 * h * w * 4
    visual = getattr(encoder.model, "visual", None)
    transformer = getattr(visual, "transformer", None)
    grid = getattr(visual, "grid_size", None)
    width = getattr(transformer, "width", None)
    if isinstance(grid, tuple) and isinstance(width, int):
        tokens = int(grid[0]) * int(grid[1]) + 1
        blocks = getattr(transformer, "resblocks", None)
        attn = getattr(blocks[0], "attn", None) if blocks is not None and len(blocks) else None
        heads = int(getattr(attn, "num_heads", max(1, width // 64)))
        activations = (8 * tokens * width + 2 * heads * tokens * tokens) * 4
    else:
        activations = 16 * pixels
    return (queue_size + 2) * pixels + activations


def auto_batch(
    encoder: ClipEncoder,
    *,
    available: int | None = None,
    queue_size: int = 2,
    fraction: float = BATCH_MEMORY_FRACTION,
    cap: int = BATCH_MEMORY_CAP,
    largest: int = AUTO_BATCH_MAX,
) -> int:
    """Frames per encoder batch that fit the memory budget.

    ``batch = floor(min(fraction · available, cap) / frame_bytes(encoder))`` clamped to
    ``[1, largest]``; ``available`` defaults to :func:`available_memory` of the encoder's device
    (unknown: ``cap`` is the budget). An explicit batch size given by the caller is used instead of
    this one.
    """
    avail = available if available is not None else available_memory(encoder.device)
    budget = cap if avail is None else min(int(fraction * max(0, avail)), cap)
    return max(1, min(int(largest), budget // max(1, frame_bytes(encoder, queue_size))))


def load_clip(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    weights_file: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
    random_weights: bool = False,
    allow_download: bool | None = None,
    image_only: bool = False,
    quantize: str | None = None,
) -> ClipEncoder:
    """Build an open_clip model with resolved weights → :class:`ClipEncoder`.

    ``model``/``pretrained`` name the architecture and the weights tag (``pretrained=None``
    with a ``weights_file`` for custom weights, e.g. the ``otstudio-tiny`` test model).
    ``random_weights=True`` skips weights entirely (benchmarks, tests); its ``weights_id``
    is ``"random"``. ``image_only=True`` frees the text tower after loading (feature
    extraction needs only images; saves ~250 MB for ViT-B-32). Raises
    :class:`WeightsNotFound` when no weights can be found.

    ``quantize="int8"`` applies dynamic int8 quantization to the image tower's linear layers
    (``torch.ao.quantization.quantize_dynamic``; weights int8, activations quantized per batch) when
    the model runs on the CPU; the ``model_id`` then ends in ``+int8`` so that its features are cached
    apart from full-precision ones. On other devices the option is ignored (logged).
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    import open_clip

    register_model_configs()
    dev = torch.device(device) if device is not None else default_device()
    config_name, force_qg = resolve_config_name(model, pretrained)
    cfg = pretrained_cfg(model, pretrained)
    if random_weights:
        resolved = None
    else:
        resolved = resolve_weights(model, pretrained, weights_file, allow_download=allow_download)
    net = build_with_weights(config_name, force_qg, resolved.path if resolved is not None else None)
    if resolved is not None:
        weights_id = file_sha256(resolved.path)
    else:
        weights_id = "random"
    tag = pretrained if (pretrained and cfg and resolved is not None) else None
    if tag:
        model_id = f"{config_name}/{tag}"
    elif resolved is not None:
        model_id = f"{config_name}/{weights_id[:12]}"
    else:
        model_id = f"{config_name}/random"
    if quantize == "int8":
        if dev.type == "cpu":
            torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]  # unannotated in torch
                net.visual, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
            )
            model_id += "+int8"
        else:
            log.warning(
                "int8 quantization runs on the CPU only; %s keeps full precision on %s", model_id, dev
            )
    preprocess_cfg: dict[str, Any] = {
        k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg
    }
    tokenizer = open_clip.get_tokenizer(config_name)
    log.info("loaded %s from %s", model_id, resolved.source if resolved else "random init")
    return ClipEncoder(
        net, tokenizer, model_id, weights_id, device=dev, preprocess_cfg=preprocess_cfg, image_only=image_only
    )
