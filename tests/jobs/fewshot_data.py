"""Small synthetic features for the few-shot job tests: 16-d rows, ``jump`` rows lifted on the first
four dimensions, ``swing`` rows on the next four, every other row plain noise."""

from __future__ import annotations

import numpy as np

__all__ = ["features", "LAYOUT_A", "LAYOUT_B"]

#: The two videos most job tests use: (label or None, rows) in order.
LAYOUT_A: list[tuple[str | None, int]] = [(None, 6), ("jump", 4), (None, 6), ("swing", 6), (None, 4)]
LAYOUT_B: list[tuple[str | None, int]] = [(None, 4), ("swing", 5), (None, 6), ("jump", 4), (None, 5)]


def features(seed: int, layout: list[tuple[str | None, int]]) -> np.ndarray:
    """Rows of ``layout`` (float32, 16 columns), seeded."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, n in layout:
        x = rng.random((n, 16)).astype(np.float32)
        if label == "jump":
            x[:, :4] += 3
        elif label == "swing":
            x[:, 4:8] += 3
        rows.append(x)
    return np.concatenate(rows)
