"""CLIP image and text encoders (open_clip), with weights resolved locally first.

Model name → open_clip config → one factory; weights are separate from the architecture.

Config choice. OpenAI's CLIP weights were trained with QuickGELU. open_clip's plain
``ViT-B-32`` config uses ``nn.GELU``; loading OpenAI weights into it runs without error and
silently degrades the features. When the pretrained tag's config says ``quick_gelu`` and the
model's config does not, :func:`resolve_config_name` picks the ``-quickgelu`` twin
(``ViT-B-32`` + ``openai`` → ``ViT-B-32-quickgelu``), or forces QuickGELU when no twin exists.

Weights resolution, in order (first hit wins, see :func:`resolve_weights`):

1. an explicit local file: the ``weights_file`` argument, else ``OTSTUDIO_CLIP_WEIGHTS``;
2. the local Hugging Face cache, read offline (``try_to_load_from_cache`` with the
   tag's ``hf_hub`` repo and file name, in ``$HF_HUB_CACHE`` or ``$HF_HOME/hub`` or
   ``~/.cache/huggingface/hub``, evaluated at call time);
3. a download through open_clip — only when the network is allowed and reachable.
   ``OTSTUDIO_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) forbids it; otherwise a TCP connect to
   ``huggingface.co:443`` with a short timeout (1.5 s) decides. This avoids open_clip's hub
   client retrying for ~45 s on a machine without network; note that ``HF_HUB_OFFLINE``
   only affects ``huggingface_hub`` when set before it is imported, which is why the check
   is done here rather than relied upon.

When nothing works, :class:`WeightsNotFound` says which model, where it looked, and how to
put a weights file in place.

Image preprocessing runs batched on tensors (resize short side + center crop + normalize
in torch, on the model's device), following the model's own preprocess config.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from otcore.device import default_device
from otcore.video.model_configs import register_model_configs

__all__ = [
    "ClipEncoder",
    "WeightsNotFound",
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

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
WEIGHTS_ENV = "OTSTUDIO_CLIP_WEIGHTS"
OFFLINE_ENV = "OTSTUDIO_OFFLINE"
_HF_HOST = ("huggingface.co", 443)
_NET_TIMEOUT = 1.5

# Extra pretrained tags known to otstudio (model -> tag -> open_clip-style pretrained cfg),
# looked up before open_clip's own table. Empty by default; a deployment can register a
# mirror here, e.g. {"otstudio-tiny": {"demo": {"hf_hub": "org/repo/", "quick_gelu": True}}}.
EXTRA_PRETRAINED: dict[str, dict[str, dict[str, Any]]] = {}


class WeightsNotFound(RuntimeError):
    """No usable weights file for the requested model; the message says where we looked."""


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights come from: ``source`` is ``file`` | ``hf-cache`` | ``download``."""

    path: Path
    source: str
    looked: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- resolution


def pretrained_cfg(model: str, pretrained: str | None) -> dict[str, Any]:
    """open_clip's pretrained config for ``(model, tag)`` (``{}`` when unknown or no tag)."""
    if not pretrained:
        return {}
    extra = EXTRA_PRETRAINED.get(model, {}).get(pretrained)
    if extra is not None:
        return dict(extra)
    from open_clip.pretrained import get_pretrained_cfg

    return dict(get_pretrained_cfg(model, pretrained) or {})


def resolve_config_name(model: str, pretrained: str | None) -> tuple[str, bool]:
    """Pick the open_clip config matching the weights: returns ``(config_name, force_quick_gelu)``.

    If the tag's pretrained config has ``quick_gelu=True`` and ``model``'s config does not,
    use ``model + "-quickgelu"`` when open_clip has it, else keep ``model`` and force QuickGELU.
    """
    import open_clip

    register_model_configs()
    cfg = pretrained_cfg(model, pretrained)
    if not cfg.get("quick_gelu", False):
        return model, False
    model_cfg = open_clip.get_model_config(model) or {}
    if model_cfg.get("quick_gelu", False) or model.endswith("-quickgelu"):
        return model, False
    twin = f"{model}-quickgelu"
    if twin in open_clip.list_models():
        return twin, False
    return model, True


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache directory, from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def network_allowed(timeout: float = _NET_TIMEOUT) -> bool:
    """False when offline is requested (``OTSTUDIO_OFFLINE`` / ``HF_HUB_OFFLINE``) or
    ``huggingface.co:443`` is unreachable within ``timeout`` seconds (DNS included)."""
    if _truthy(os.environ.get(OFFLINE_ENV)) or _truthy(os.environ.get("HF_HUB_OFFLINE")):
        return False
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection(_HF_HOST, timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    th = threading.Thread(target=attempt, daemon=True)
    th.start()
    th.join(timeout + 0.5)  # getaddrinfo has no timeout of its own
    return bool(result and result[0])


def _hf_candidates(cfg: dict[str, Any]) -> tuple[str, list[str]] | None:
    hub = cfg.get("hf_hub")
    if not hub:
        return None
    from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    if hub.endswith("/"):
        repo_id, filename = hub.rstrip("/"), ""
    else:
        repo_id, filename = os.path.split(hub)
    names: list[str] = []
    if filename:
        if filename.endswith((".bin", ".pth")):
            names.append(filename[:-4] + ".safetensors")
        names.append(filename)
    else:
        names += [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
    return repo_id, names


def _how_to_fix(model: str, pretrained: str | None, cfg: dict[str, Any]) -> str:
    lines = [
        "To fix, either:",
        f"  - put a weights file on this machine and point to it: export {WEIGHTS_ENV}=/path/to/weights "
        "(or pass --weights FILE / weights_file=...); an open_clip state dict (.safetensors/.bin/.pt) "
        "or OpenAI's original .pt file works;",
    ]
    hf = _hf_candidates(cfg)
    if hf:
        repo, names = hf
        lines.append(
            f"  - or fill the Hugging Face cache on a machine with network: "
            f"`huggingface-cli download {repo} {names[0]}` and copy {hf_cache_dir()} over;"
        )
    if cfg.get("url"):
        lines.append(f"  - or download {cfg['url']} and use it as the weights file;")
    lines.append(
        f"  - or allow network access (unset {OFFLINE_ENV}/HF_HUB_OFFLINE) so the weights can be downloaded."
    )
    return "\n".join(lines)


def resolve_weights(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    weights_file: str | os.PathLike[str] | None = None,
    allow_download: bool | None = None,
) -> ResolvedWeights:
    """Find the weights file for ``(model, pretrained)``: explicit file, HF cache, download.

    ``allow_download=None`` means: download only if :func:`network_allowed`. Raises
    :class:`WeightsNotFound` (quickly, without touching the network when offline).
    """
    looked: list[str] = []
    explicit = weights_file if weights_file is not None else os.environ.get(WEIGHTS_ENV) or None
    if explicit is not None:
        p = Path(explicit).expanduser()
        if p.is_file():
            return ResolvedWeights(p.resolve(), "file", (f"file {p}",))
        raise WeightsNotFound(
            f"CLIP weights file for {model}"
            + (f" ({pretrained})" if pretrained else "")
            + f" not found: {p} does not exist or is not a file"
            + (f" (from ${WEIGHTS_ENV})" if weights_file is None else "")
            + ". Check the path, or unset it to use the Hugging Face cache or a download."
        )
    looked.append(f"no explicit file (argument or ${WEIGHTS_ENV})")
    cfg = pretrained_cfg(model, pretrained)
    if pretrained and not cfg and os.path.isfile(pretrained):
        return ResolvedWeights(Path(pretrained).resolve(), "file", (f"file {pretrained}",))
    if pretrained and not cfg:
        raise WeightsNotFound(
            f"open_clip knows no pretrained weights {pretrained!r} for model {model!r}. "
            f"Pass a weights file ({WEIGHTS_ENV}=/path) or use a known tag."
        )
    if not pretrained:
        raise WeightsNotFound(
            f"no weights for model {model!r}: no pretrained tag and no weights file given. "
            f"Pass weights_file=/path (or set {WEIGHTS_ENV})."
        )
    hf = _hf_candidates(cfg)
    if hf:
        from huggingface_hub import try_to_load_from_cache

        repo, names = hf
        cache = hf_cache_dir()
        for name in names:
            try:
                hit = try_to_load_from_cache(repo, name, cache_dir=cache)
            except Exception as e:  # malformed cache entries must not break resolution
                log.debug("HF cache lookup failed for %s/%s: %s", repo, name, e)
                hit = None
            if isinstance(hit, str) and os.path.isfile(hit):
                return ResolvedWeights(Path(hit), "hf-cache", tuple(looked + [f"HF cache {cache}"]))
        looked.append(f"Hugging Face cache {cache} (repo {repo}, files {', '.join(names)})")
    else:
        looked.append("Hugging Face cache: this tag has no hub id")
    if allow_download is None:
        allow_download = network_allowed()
        if not allow_download:
            reason = (
                f"{OFFLINE_ENV}/HF_HUB_OFFLINE is set"
                if _truthy(os.environ.get(OFFLINE_ENV)) or _truthy(os.environ.get("HF_HUB_OFFLINE"))
                else f"{_HF_HOST[0]} is not reachable"
            )
            looked.append(f"download skipped: {reason}")
    elif not allow_download:
        looked.append("download not allowed")
    if allow_download:
        from open_clip.pretrained import download_pretrained

        try:
            target = download_pretrained(cfg)
            if target and os.path.isfile(target):
                return ResolvedWeights(Path(target), "download", tuple(looked + ["download"]))
            looked.append("download returned nothing")
        except Exception as e:
            looked.append(f"download failed: {str(e).splitlines()[0][:200]}")
    raise WeightsNotFound(
        f"CLIP weights for model {model} ({pretrained}) were not found.\nLooked at:\n"
        + "\n".join(f"  - {x}" for x in looked)
        + "\n"
        + _how_to_fix(model, pretrained, cfg)
    )


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed; memoised per (path, size, mtime) in this process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def _is_torchscript(path: Path) -> bool:
    """OpenAI's original CLIP .pt files are TorchScript archives (a zip with code/ and constants.pkl)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_weights_into(model: torch.nn.Module, path: Path) -> None:
    """Load a state-dict file (open_clip/OpenAI formats; OpenAI's TorchScript .pt too)."""
    from open_clip.factory import convert_state_dict, load_checkpoint

    if _is_torchscript(path):
        try:
            sd = torch.jit.load(str(path), map_location="cpu").state_dict()
            for key in ("input_resolution", "context_length", "vocab_size"):
                sd.pop(key, None)
            model.load_state_dict(convert_state_dict(model, sd), strict=True)
            return
        except Exception as e:
            raise WeightsNotFound(
                f"weights file {path} does not match the model architecture or cannot be read: "
                f"{str(e).splitlines()[0][:300]}"
            ) from e
    try:
        load_checkpoint(model, str(path), strict=True, weights_only=True)
    except Exception as e:
        raise WeightsNotFound(
            f"weights file {path} does not match the model architecture or cannot be read "
            f"(is it for another model?): {str(e).splitlines()[0][:300]}"
        ) from e


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("No pretrained weights loaded")


@contextlib.contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """open_clip warns "initialized randomly" when we build first and load weights after."""
    root = logging.getLogger()
    flt = _DropRandomInitWarning()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


# --------------------------------------------------------------------------- encoder


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

    def _infer_embed_dim(self) -> int:
        proj = getattr(self.model, "text_projection", None)
        if isinstance(proj, torch.Tensor):
            return int(proj.shape[-1])
        vis = getattr(self.model.visual, "output_dim", None)
        if vis:
            return int(vis)
        with torch.inference_mode():
            x = torch.zeros(1, 3, *self.image_size, device=self.device)
            return int(self.model.encode_image(x).shape[-1])

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
            out = self.model.encode_image(pixels.to(self.device))
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
            out = self.model.encode_text(tokens).float()
            return F.normalize(out, dim=-1) if normalize else out

    def __repr__(self) -> str:
        return f"ClipEncoder(model_id={self.model_id!r}, embed_dim={self.embed_dim}, device={self.device})"


def load_clip(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    weights_file: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
    random_weights: bool = False,
    allow_download: bool | None = None,
    image_only: bool = False,
) -> ClipEncoder:
    """Build an open_clip model with resolved weights → :class:`ClipEncoder`.

    ``model``/``pretrained`` name the architecture and the weights tag (``pretrained=None``
    with a ``weights_file`` for custom weights, e.g. the ``otstudio-tiny`` test model).
    ``random_weights=True`` skips weights entirely (benchmarks, tests); its ``weights_id``
    is ``"random"``. ``image_only=True`` frees the text tower after loading (feature
    extraction needs only images; saves ~250 MB for ViT-B-32). Raises
    :class:`WeightsNotFound` when no weights can be found.
    """
    import open_clip

    register_model_configs()
    dev = torch.device(device) if device is not None else default_device()
    config_name, force_qg = resolve_config_name(model, pretrained)
    cfg = pretrained_cfg(model, pretrained)
    if random_weights:
        resolved = None
    else:
        resolved = resolve_weights(model, pretrained, weights_file, allow_download=allow_download)
    with _quiet_random_init_warning():
        net = open_clip.create_model(config_name, pretrained=None, force_quick_gelu=force_qg, device="cpu")
    if resolved is not None:
        _load_weights_into(net, resolved.path)
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
    preprocess_cfg = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
    tokenizer = open_clip.get_tokenizer(config_name)
    log.info("loaded %s from %s", model_id, resolved.source if resolved else "random init")
    return ClipEncoder(
        net, tokenizer, model_id, weights_id, device=dev, preprocess_cfg=preprocess_cfg, image_only=image_only
    )
