"""Command line: ``otstudio <command> ...`` (also ``python -m otcore``).

Each command lives in the module that owns it and parses its own arguments
(``main(argv: list[str]) -> int``); this file only dispatches, importing lazily so
that ``otstudio --help`` stays fast and a missing optional piece fails only its command.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["main", "COMMANDS", "EVAL_COMMANDS"]

# command -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "extract": ("otcore.video.cli:main", "extract features of a video file: otstudio extract VIDEO --fps 2"),
    "worker": ("otcore.jobs.worker:main", "run the background job worker"),
    "import": ("otcore.formats.cli:import_main", "import annotations into a project"),
    "export": ("otcore.formats.cli:export_main", "export a project's annotations"),
    "eval": ("otcore.cli:eval_main", "evaluate a method on real data (fewshot|segment|decode|align|weak)"),
    "demo": ("otcore.service:demo_main", "create the demo project in the data dir"),
    "train": ("otcore.service.cli:train_main", "train a few-shot model on a project's marks (foreground)"),
    "propose": ("otcore.service.cli:propose_main", "zero-shot proposals from label names (CLIP)"),
}

EVAL_COMMANDS: dict[str, tuple[str, str]] = {
    "fewshot": ("otcore.bench.fewshot:main", "few-shot localization on per-clip features (PLOT-TAL, ...)"),
    "segment": ("otcore.bench.segment:main", "unsupervised action segmentation (ASOT, CLOT, ...)"),
    "decode": ("otcore.bench.decode:main", "OT decoding of per-frame scores vs argmax"),
    "align": ("otcore.bench.align:main", "video alignment (VAOT, DTW, linear)"),
    "weak": ("otcore.bench.weak:main", "weakly supervised foreground (CASE vs attention)"),
    "ood": ("otcore.bench.ood:main", "out-of-distribution clips (SOT-GLP local-global vs MSP, energy)"),
    "loop": ("otcore.bench.loop:main", "simulated annotator: mark, train, review; effort vs all-manual"),
}


def _resolve(target: str) -> Callable[[list[str]], int | None]:
    module, func = target.split(":")
    fn: Callable[[list[str]], int | None] = getattr(importlib.import_module(module), func)
    return fn


def _usage(table: dict[str, tuple[str, str]], prog: str) -> str:
    lines = [f"usage: {prog} <command> [args...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in table.items()]
    return "\n".join(lines)


def _dispatch(table: dict[str, tuple[str, str]], prog: str, argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage(table, prog))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"{prog}: unknown command {name!r}\n\n{_usage(table, prog)}", file=sys.stderr)
        return 2
    from otcore.settings import SettingsError

    try:
        return int(_resolve(table[name][0])(rest) or 0)
    except SettingsError as exc:  # a bad OTSTUDIO_* value: one line, no traceback
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2


def eval_main(argv: list[str]) -> int:
    """``otstudio eval <what> ...``: dispatch to the evaluation named first."""
    return _dispatch(EVAL_COMMANDS, "otstudio eval", argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``otstudio`` console script."""
    return _dispatch(COMMANDS, "otstudio", list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
