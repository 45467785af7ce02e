"""What the Train page says about the text tower a project's prompts will be trained with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otcore.settings import Settings
    from otcore.store import Store

__all__ = ["TowerStatus", "text_tower_status"]


@dataclass(frozen=True)
class TowerStatus:
    """``names_meaningful``: the features come from a CLIP model with real text (zero-shot and
    class-name initialisation possible); ``encoders``: the distinct encoders of the project's
    features; ``message``: one sentence for a person."""

    names_meaningful: bool
    encoders: tuple[str, ...]
    message: str


def text_tower_status(store: Store, settings: Settings, project_id: int) -> TowerStatus:
    """Which encoders made the project's features and whether their text tower knows words
    (read from the features artifacts and weight hashes; no model is loaded)."""
    from otcore.jobs.clip_pair import OFFLINE_TINY, features_identity
    from otcore.video.clip_cache import weights_sha

    idents = {
        features_identity(store, v.id)
        for v in store.list_videos(project_id)
        if store.get_video_features(v.id)
    }
    if not idents:
        return TowerStatus(
            False, (), "No video has features yet: add videos and extract their features first."
        )
    names = tuple(sorted(i.label if i else "precomputed (not CLIP)" for i in idents))
    if len(idents) > 1:
        return TowerStatus(
            False,
            names,
            "The features come from several encoders: training will be refused "
            "until every video's features are extracted with one model.",
        )
    (ident,) = idents
    if ident is None:
        return TowerStatus(
            False,
            names,
            "These features were not made by CLIP: class names carry no meaning, "
            "prompts learn from your marks alone.",
        )
    offline = {weights_sha(p) for p in settings.models_dir.glob(f"{OFFLINE_TINY}-seed*.pt") if p.is_file()}
    if ident.weights_id in offline:
        return TowerStatus(
            False,
            names,
            "Features from the offline encoder (random weights, no CLIP found): its "
            "text tower knows no words, so class names carry no meaning; prompts learn from your "
            "marks alone. Put CLIP weights in place (OTSTUDIO_CLIP_WEIGHTS or the Hugging Face "
            "cache) and extract again for name-aware training and zero-shot proposals.",
        )
    return TowerStatus(
        True,
        names,
        f"Prompts are trained with the text tower of {ident.model_id}, the model that made these features.",
    )
