"""A tiny CLIP trained by the tests themselves, so that text and image really align.

Synthetic world: 32×32 frames of grey noise, optionally with one coloured shape (a square or a
disc, in red, green, blue or yellow) at a random place and size. Captions name the shape
(``"a photo of a red square."``, one of several templates) or the empty scene
(``"a photo of an empty grey background."``). The ``otstudio-tiny`` open_clip config is trained
contrastively (symmetric InfoNCE, as CLIP) for a few hundred CPU steps, written to a checkpoint file
and loaded back through the app's real loading path (:func:`otcore.video.encoders.load_clip`).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 60, 230),
    "yellow": (230, 220, 20),
}
SHAPES = ("square", "disc")
EMPTY = "an empty grey background"
TEMPLATES = ("a photo of {}.", "a video frame of {}.", "{}.", "an image of {}.")
SIZE = 32


def concepts() -> list[str]:
    """Every object concept: ``"red square"``, ``"red disc"``, ..."""
    return [f"{c} {s}" for c in COLOURS for s in SHAPES]


def draw(concept: str | None, rng: np.random.Generator) -> np.ndarray:
    """One ``[32, 32, 3]`` uint8 frame: grey noise, plus the concept's shape when given."""
    img = rng.normal(128, 18, size=(SIZE, SIZE, 3)).clip(0, 255)
    if concept is not None:
        colour, shape = concept.split(" ")
        r = int(rng.integers(6, 11))
        cy, cx = (int(v) for v in rng.integers(r, SIZE - r, size=2))
        yy, xx = np.mgrid[:SIZE, :SIZE]
        if shape == "square":
            mask = (np.abs(yy - cy) < r) & (np.abs(xx - cx) < r)
        else:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = np.asarray(COLOURS[colour]) + rng.normal(0, 8, size=(int(mask.sum()), 3))
    return img.clip(0, 255).astype(np.uint8)


def train_tiny_clip(path: Path, steps: int = 300, batch: int = 48, seed: int = 0) -> Path:
    """Train ``otstudio-tiny`` on the synthetic world and save its state dict to ``path``."""
    import open_clip

    from otcore.video.model_configs import TINY_MODEL, register_model_configs

    register_model_configs()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    model = open_clip.create_model(TINY_MODEL, pretrained=None)
    tokenizer = open_clip.get_tokenizer(TINY_MODEL)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    names = [*concepts(), None]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    model.train()
    for _ in range(steps):
        # one caption per concept present in the batch, so the targets are unambiguous
        chosen = pick.sample(names, k=len(names))[: min(batch, len(names))]
        per = max(1, batch // len(chosen))
        frames, captions, owner = [], [], []
        for j, concept in enumerate(chosen):
            for _ in range(per):
                frames.append(draw(concept, rng))
                owner.append(j)
            captions.append(pick.choice(TEMPLATES).format(f"a {concept}" if concept else EMPTY))
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0
        x = (x - mean) / std
        img = F.normalize(model.encode_image(x), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer(captions)), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T  # [B, C]
        target = torch.tensor(owner)
        loss_img = F.cross_entropy(logits, target)
        # text -> image: each caption's targets are spread evenly over its own images
        soft = (target[None, :] == torch.arange(len(chosen))[:, None]).float()
        loss_txt = F.cross_entropy(logits.T, soft / soft.sum(1, keepdim=True))
        loss = loss_img + loss_txt
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100.0))
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


#: A synthetic video: (concept or None for empty frames, number of frames), in order.
VIDEO_PLAN: list[tuple[str | None, int]] = [
    (None, 10),
    ("red square", 12),
    (None, 8),
    ("blue disc", 10),
    (None, 6),
    ("green square", 10),
    (None, 5),
]


def synthetic_video(seed: int, fps: float) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Frames of :data:`VIDEO_PLAN` (new noise per seed) and its true spans ``(label, start, end)`` in
    seconds at ``fps`` (labels are the concepts with ``_`` for spaces)."""
    rng = np.random.default_rng(seed)
    frames: list[np.ndarray] = []
    truth: list[tuple[str, float, float]] = []
    t = 0
    for concept, n in VIDEO_PLAN:
        frames += [draw(concept, rng) for _ in range(n)]
        if concept is not None:
            truth.append((concept.replace(" ", "_"), t / fps, (t + n) / fps))
        t += n
    return np.stack(frames), truth
