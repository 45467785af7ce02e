"""Unknown-action scores written as :mod:`otcore.jobs.unknown` writes them, without training (for
the service, page and browser tests; the job itself is tested in tests/jobs/test_unknown_job.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from otcore.jobs.unknown import UNKNOWN_KIND
from otcore.store.predictions import SavedPrediction, save_prediction

FPS = 2.0


def write_scores(
    store: Any, settings: Any, project_id: int, scores: dict[int, np.ndarray], threshold: float
) -> int:
    """Record an ``unknown_scores`` run (per-row scores at 2 fps per video); returns the artifact id."""
    files = {}
    meta = {
        "kind": "unknown",
        "threshold": threshold,
        "quantile": 0.95,
        "window": 2,
        "stride": 1,
        "job_id": 1,
    }
    n = len(store.list_artifacts(UNKNOWN_KIND))
    for vid, u in scores.items():
        saved = SavedPrediction(
            fps=FPS, class_names=("jump", "run"), arrays={"unknown": np.asarray(u, np.float32)}, meta=meta
        )
        path = save_prediction(settings.results_dir / f"unknown_{n}_video{vid}.npz", saved)
        files[str(vid)] = str(path.relative_to(settings.data_dir))
    art = store.add_artifact(
        UNKNOWN_KIND,
        f"test-{n}",
        next(iter(files.values())),
        {
            **meta,
            "project_id": project_id,
            "labels": ["jump", "run"],
            "rule": "0.95-quantile of the unknown score of marked frames (test)",
            "videos": files,
        },
    )
    return int(art.id)


def two_videos_scores() -> tuple[np.ndarray, np.ndarray]:
    """Scores of two 10 s videos (20 rows): video 1 high over [0, 1) s (a marked span in the tests)
    and [3, 5) s; video 2 high over [5, 6.5) s (the strongest) and [8, 9) s; 0.1 elsewhere."""
    u1 = np.full(20, 0.1, dtype=np.float32)
    u1[0:2] = 0.9
    u1[6:10] = 0.7
    u2 = np.full(20, 0.1, dtype=np.float32)
    u2[10:13] = 0.95
    u2[16:18] = 0.55
    return u1, u2
