"""Which text tower trains a project's prompts: the CLIP model that produced its features.

A features artifact records the encoder that made it (``model_id``, ``weights_id`` = sha256 of the
weights file, written by ``extract_features``). :func:`features_identity` reads that back per video;
:func:`one_encoder` refuses a set of videos whose features come from different encoders;
:func:`text_tower_for` returns the text tower of exactly that model:

1. features with no recorded weights (precomputed features imported from elsewhere, e.g. I3D):
   no CLIP produced them, so the offline tiny text tower (``otstudio-tiny``, seeded random weights)
   stands in and class names carry no meaning (``names_meaningful=False``);
2. the configured CLIP (``settings.clip_model`` / ``clip_pretrained`` / ``clip_weights_file``,
   resolved as for extraction: explicit file, Hugging Face cache, download) when its weights' sha256
   equals the features' ``weights_id``;
3. the offline encoder's weights file in ``models_dir`` (``otstudio-tiny-seed<k>.pt``, written by the
   Videos page when no CLIP weights are found) when its sha256 matches: its own tiny text tower,
   class names carry no meaning;
4. anything else is refused (:class:`EncoderMismatch`) with what was found and how to fix it.

The model is loaded once per process (:mod:`otcore.video.clip_cache`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otcore.video.clip_cache import ClipIdentity

if TYPE_CHECKING:
    from otcore.methods.prompts import TextTower
    from otcore.settings import Settings
    from otcore.store import Store

__all__ = [
    "EncoderMismatch",
    "PairedTower",
    "features_identity",
    "one_encoder",
    "text_tower_for",
    "OFFLINE_TOWER_ID",
]

OFFLINE_TINY = "otstudio-tiny"
OFFLINE_TOWER_ID = "otstudio-tiny:random-seed0"


class EncoderMismatch(ValueError):
    """The features and the available text tower (or two videos' features) disagree."""


@dataclass(frozen=True)
class PairedTower:
    """The text tower paired with a set of features: ``identity`` of the model (``None`` for the
    stand-in tower of non-CLIP features), ``tower_id`` as printed, ``names_meaningful`` False when
    the tower has no pretrained text (offline encoder or stand-in)."""

    tower: TextTower
    tower_id: str
    identity: ClipIdentity | None
    names_meaningful: bool
    encoder: Any = None  # the ClipEncoder (text + image) when a CLIP model was loaded


def features_identity(store: Store, video_id: int) -> ClipIdentity | None:
    """The encoder recorded on the video's newest features artifact; ``None`` when the features
    were not extracted by a CLIP model of the app (no ``weights_id``) or the video has none."""
    art = store.get_video_features(video_id)
    if art is None:
        return None
    meta = dict(art.meta or {})
    model_id, weights_id = meta.get("model_id"), meta.get("weights_id")
    if not model_id or not weights_id or weights_id == "random":
        return None
    return ClipIdentity(str(model_id), str(weights_id))


def one_encoder(identities: Iterable[tuple[str, ClipIdentity | None]]) -> ClipIdentity | None:
    """The single encoder of ``(video name, identity)`` pairs; :class:`EncoderMismatch` naming the
    videos when there are two or more."""
    groups: dict[ClipIdentity | None, list[str]] = {}
    for name, ident in identities:
        groups.setdefault(ident, []).append(name)
    if len(groups) > 1:
        parts = [
            f"{ident.label if ident else 'precomputed (not CLIP)'} on {', '.join(sorted(names)[:4])}"
            + (" …" if len(names) > 4 else "")
            for ident, names in groups.items()
        ]
        raise EncoderMismatch(
            "the marked videos' features come from different encoders ("
            + "; ".join(parts)
            + "): extract every video's features with one model before training"
        )
    return next(iter(groups), None)


def _tower(enc: Any, pretrained: bool) -> TextTower:
    from otcore.methods.prompts import TextTower

    return TextTower(model=enc.model, tokenizer=enc.tokenizer, model_id=enc.model_id, pretrained=pretrained)


def _offline_weights(settings: Settings) -> list[str]:
    return sorted(str(p) for p in settings.models_dir.glob(f"{OFFLINE_TINY}-seed*.pt") if p.is_file())


def text_tower_for(settings: Settings, identity: ClipIdentity | None) -> PairedTower:
    """The text tower of the model that produced features of ``identity`` (see the module doc)."""
    from otcore.video.clip_cache import get_clip, weights_sha
    from otcore.video.encoders import WeightsNotFound, resolve_weights

    if identity is None:
        from otcore.methods.prompts import load_text_tower

        tower = load_text_tower(OFFLINE_TINY, None, None, seed=0)
        return PairedTower(tower, OFFLINE_TOWER_ID, None, names_meaningful=False)
    pretrained = settings.clip_pretrained or None
    if isinstance(pretrained, str) and pretrained.lower() == "none":
        pretrained = None
    configured = f"{settings.clip_model}" + (f" ({pretrained})" if pretrained else "")
    found = "its weights were not found"
    if settings.clip_model != OFFLINE_TINY or settings.clip_weights_file:
        try:
            resolved = resolve_weights(settings.clip_model, pretrained, settings.clip_weights_file)
            sha = weights_sha(resolved.path)
            if sha == identity.weights_id:
                enc = get_clip(settings.clip_model, pretrained, str(resolved.path))
                offline = str(resolved.path) in _offline_weights(settings)
                return PairedTower(_tower(enc, not offline), enc.model_id, identity, not offline, enc)
            found = f"its weights are {sha[:12]}"
        except WeightsNotFound:
            pass
    for path in _offline_weights(settings):
        if weights_sha(path) == identity.weights_id:
            enc = get_clip(OFFLINE_TINY, None, path)
            return PairedTower(_tower(enc, False), enc.model_id, identity, False, enc)
    raise EncoderMismatch(
        f"the features were extracted with {identity.model_id} (weights {identity.weights_id[:12]}), but the "
        f"configured CLIP is {configured} and {found}: prompts must be trained with the text tower of the "
        "model that made the features. Set OTSTUDIO_CLIP_MODEL / OTSTUDIO_CLIP_WEIGHTS to that model, "
        "or extract the features again with the configured one."
    )
