"""CLIP weights: config choice and resolution (local file, Hugging Face cache, download), and loading.

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

The encoder built from these weights is :mod:`otcore.video.encoders`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from otcore.video.model_configs import register_model_configs

__all__ = [
    "WeightsNotFound",
    "ResolvedWeights",
    "DEFAULT_MODEL",
    "DEFAULT_PRETRAINED",
    "WEIGHTS_ENV",
    "OFFLINE_ENV",
    "EXTRA_PRETRAINED",
    "resolve_config_name",
    "resolve_weights",
    "pretrained_cfg",
    "hf_cache_dir",
    "network_allowed",
    "build_with_weights",
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
            # torch.jit.load has no annotations
            sd = torch.jit.load(str(path), map_location="cpu").state_dict()  # type: ignore[no-untyped-call]
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


def build_with_weights(config_name: str, force_quick_gelu: bool, path: Path | None) -> torch.nn.Module:
    """The open_clip architecture ``config_name`` on the CPU with the weights file ``path`` loaded
    strictly (``None``: random initialisation, as open_clip's own log line then says).

    A state-dict file is handed to open_clip's factory, which loads it while building (so it does not
    log a random initialisation); OpenAI's TorchScript ``.pt`` archives are converted after building.
    Raises :class:`WeightsNotFound` when the file does not fit the architecture or cannot be read.
    """
    import open_clip

    if path is not None and not _is_torchscript(path):
        try:
            return cast(  # open_clip is untyped
                torch.nn.Module,
                open_clip.create_model(
                    config_name, pretrained=str(path), force_quick_gelu=force_quick_gelu, device="cpu"
                ),
            )
        except Exception as e:
            raise WeightsNotFound(
                f"weights file {path} does not match the model architecture or cannot be read "
                f"(is it for another model?): {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}"
            ) from e
    net: torch.nn.Module = open_clip.create_model(
        config_name, pretrained=None, force_quick_gelu=force_quick_gelu, device="cpu"
    )
    if path is not None:
        _load_weights_into(net, path)
    return net
