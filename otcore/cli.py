"""Command line: ``otstudio <command> ...`` (also ``python -m otcore``).

Each command lives in the module that owns it and parses its own arguments
(``main(argv: list[str]) -> int``); this file only dispatches, importing lazily so
that ``otstudio --help`` stays fast and a missing optional piece fails only its command.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["main", "add_main", "extract_main", "COMMANDS", "EVAL_COMMANDS"]

# command -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "add": ("otcore.cli:add_main", "add videos to a project: otstudio add VIDEO... --project NAME"),
    "extract": (
        "otcore.cli:extract_main",
        "extract features: otstudio extract VIDEO --fps 2, or a project's videos: "
        "otstudio extract --project NAME [--engine ray [--address ADDR]]",
    ),
    "worker": ("otcore.jobs.worker:main", "run the background job worker"),
    "import": ("otcore.service.transfer:import_main", "import annotations into a project"),
    "export": ("otcore.service.transfer:export_main", "export a project's annotations"),
    "eval": ("otcore.cli:eval_main", "evaluate a method on real data (fewshot|segment|decode|align|weak)"),
    "demo": ("otcore.service:demo_main", "create the demo project in the data dir"),
    "train": ("otcore.service.cli:train_main", "train a few-shot model on a project's marks (foreground)"),
    "propose": ("otcore.service.cli:propose_main", "zero-shot proposals from label names (CLIP)"),
    "predict": (
        "otcore.jobs.ray_predict:main",
        "predict a project's videos with its trained model: "
        "otstudio predict --project NAME [--engine ray [--address ADDR]]",
    ),
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


def add_main(argv: list[str]) -> int:
    """``otstudio add VIDEO... --project NAME [--fps F] [--no-extract] [--data-dir D]``: the Videos
    page's ingest as a command. Each file is copied into the data dir (hashed, probed,
    deduplicated), registered in the project (created if missing) and, unless ``--no-extract``,
    its feature extraction is queued at ``--fps``. A bad file gets a one-line message and leaves
    nothing behind; the others are still added. Exit code 0 when every file was added (or was
    there already), 1 otherwise, 2 for bad arguments."""
    import argparse

    from otcore.video.cli import sampling_fps

    ap = argparse.ArgumentParser(prog="otstudio add", description=add_main.__doc__)
    ap.add_argument("videos", nargs="+", help="video files")
    ap.add_argument("--project", required=True, help="project name (created if missing)")
    ap.add_argument("--fps", type=sampling_fps, default=2.0, help="feature sampling rate (default 2)")
    ap.add_argument("--no-extract", action="store_true", help="do not queue feature extraction")
    ap.add_argument(
        "--data-dir", default=None, help="otstudio data dir (default: $OTSTUDIO_DATA_DIR or ~/.otstudio)"
    )
    args = ap.parse_args(argv)
    name = args.project.strip()
    if not name or len(name) > 200 or any(not c.isprintable() for c in name):
        print("otstudio add: --project must be printable text of 1 to 200 characters", file=sys.stderr)
        return 2
    from otcore.service import add_video, open_store
    from otcore.settings import load_settings
    from otcore.video.errors import VideoError

    try:
        settings = load_settings(args.data_dir)
        store = open_store(settings)
    except Exception as exc:  # noqa: BLE001 - a bad setting or database: one line, no traceback
        print(f"otstudio add: {exc}", file=sys.stderr)
        return 1
    failed = 0
    try:
        project = store.ensure_project(name)
        for path in args.videos:
            try:
                added = add_video(
                    store, settings, project.id, path, extract=not args.no_extract, fps=args.fps
                )
            except (VideoError, OSError) as exc:
                failed += 1
                print(f"otstudio add: {path}: {exc}", file=sys.stderr)
                continue
            v = added.video
            what = "already in the project as" if added.duplicate else "added"
            job = f", extraction job {added.job_id} queued at {args.fps:g} fps" if added.job_id else ""
            print(
                f"{what} {v.filename} (video {v.id}, {v.duration or 0:.1f} s, {v.n_frames or '?'} frames){job}"
            )
    finally:
        store.close()
    return 1 if failed else 0


def eval_main(argv: list[str]) -> int:
    """``otstudio eval <what> ...``: dispatch to the evaluation named first."""
    return _dispatch(EVAL_COMMANDS, "otstudio eval", argv)


def extract_main(argv: list[str]) -> int:
    """``otstudio extract``: one video file (:mod:`otcore.video.cli`), or with ``--project`` every
    video of a project through the worker's extract job (:mod:`otcore.jobs.ray_extract`)."""
    if any(a == "--project" or a.startswith("--project=") for a in argv):
        from otcore.jobs.ray_extract import main as bulk_main

        return bulk_main(argv)
    from otcore.video.cli import main as video_main

    return video_main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``otstudio`` console script."""
    return _dispatch(COMMANDS, "otstudio", list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
