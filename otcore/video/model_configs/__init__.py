"""Extra open_clip model configs shipped with otstudio.

``otstudio-tiny`` is a 2-layer, 64-wide CLIP used by the tests and the offline demo:
it has the real architecture and loading path, with weights the caller creates.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).parent
TINY_MODEL = "otstudio-tiny"

__all__ = ["CONFIG_DIR", "TINY_MODEL", "register_model_configs"]


def register_model_configs() -> None:
    """Make otstudio's configs known to open_clip (idempotent)."""
    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)
