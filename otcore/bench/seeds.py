"""The ``--seeds`` argument shared by the ``otstudio eval`` commands."""

from __future__ import annotations

__all__ = ["parse_seeds", "parse_overrides"]


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → ``[0, 1, 2, 3, 4]``; ``"0,3,7"`` → ``[0, 3, 7]``; ``"1,3-4"`` → ``[1, 3, 4]``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``["lr=1e-3", "fusion=agnostic", "hidden=[64]"]`` → ``{"lr": 0.001, "fusion": "agnostic",
    "hidden": (64,)}``: JSON values where they parse (lists become tuples), else the raw string."""
    import json

    out: dict[str, object] = {}
    for kv in pairs:
        if "=" not in kv:
            raise ValueError(f"--set needs KEY=VALUE, got {kv!r}")
        key, val = kv.split("=", 1)
        try:
            parsed: object = json.loads(val)
        except json.JSONDecodeError:
            parsed = val
        out[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out
