"""The ``--seeds`` argument shared by the ``otstudio eval`` commands."""

from __future__ import annotations

__all__ = ["parse_seeds"]


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
