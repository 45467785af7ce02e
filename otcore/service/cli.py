"""``otstudio train`` and ``otstudio propose``: the Train page's jobs, run in the foreground.

Both build the same typed request the page builds and run it through
:func:`otcore.service.foreground.run_foreground` (the worker's own ``run_job``), with a progress bar
on stderr. ``train`` ends with one stdout line::

    trained <method>: labels=<n> marks=<n> text_tower=<model id> proposals=<n> seconds=<s>

and ``propose`` with ``proposed zeroshot: labels=<n> text_tower=<model id> proposals=<n> seconds=<s>``.
A bad argument or a failed job prints one line on stderr and exits 2 (1 when cancelled).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

__all__ = ["train_main", "propose_main", "ProgressBar"]

METHOD_CHOICES = ("plot-tal", "coop", "prototype", "sot-glp")


class ProgressBar:
    """A one-line progress bar (``\\r`` redraws on a terminal, a line per 10% otherwise)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = (-1, "")

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        pct = int(fraction * 100)
        if self.tty:
            if (pct, message) == self._last:
                return
            fill = int(fraction * self.width)
            line = f"\r[{'#' * fill}{'.' * (self.width - fill)}] {pct:3d}% {message[:60]:<60}"
            self.stream.write(line)
        else:
            if pct // 10 == self._last[0] // 10 and pct < 100:
                return
            self.stream.write(f"[{pct:3d}%] {message}\n")
        self._last = (pct, message)
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _fail(prog: str, message: str, code: int = 2) -> int:
    print(f"{prog}: {message.splitlines()[0] if message else 'failed'}", file=sys.stderr)
    return code


def train_main(argv: list[str]) -> int:
    """``otstudio train --project NAME [--method M] [--labels a,b] [--epochs N] [--no-predict]``."""
    from otcore.service import TrainRequest, TrainResult, job_result, open_store, run_foreground
    from otcore.settings import load_settings

    ap = argparse.ArgumentParser(
        prog="otstudio train", description="train a few-shot model on a project's marks"
    )
    ap.add_argument("--project", required=True, help="project name (or id)")
    ap.add_argument("--method", default="plot-tal", choices=METHOD_CHOICES)
    ap.add_argument("--labels", default=None, help="comma-separated labels (default: every marked label)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--no-predict", action="store_true", help="train only, write no proposals")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the settings')")
    args = ap.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        return _fail("otstudio train", f"--epochs must be ≥ 1, got {args.epochs}")
    settings = load_settings()
    store = open_store(settings)
    try:
        project = store.get_project(args.project)
        if project is None:
            return _fail("otstudio train", f"no project named {args.project!r}")
        labels = tuple(x.strip() for x in args.labels.split(",") if x.strip()) if args.labels else None
        request = TrainRequest(
            project_id=project.id,
            labels=labels,
            method=args.method,
            epochs=args.epochs,
            predict=not args.no_predict,
            threads=args.threads,
        )
        bar = ProgressBar()
        run = run_foreground(store, settings, request, project.id, on_progress=bar)
        bar.close()
        job = run.job
        if job.status != "done":
            return _fail(
                "otstudio train", f"{job.status}: {job.message}", 1 if job.status == "cancelled" else 2
            )
        result = job_result(job, TrainResult)
        assert result is not None
        proposals = sum(p.n_segments for p in (result.predictions or {}).values())
        if not result.names_meaningful and result.method != "prototype":
            print(
                "otstudio train: the text tower has no pretrained text (offline encoder or non-CLIP "
                "features): class names carry no meaning, prompts learn from the marks alone",
                file=sys.stderr,
            )
        print(
            f"trained {result.method}: labels={len(result.labels)} marks={result.n_segments} "
            f"text_tower={result.text_tower} proposals={proposals} seconds={run.seconds:.1f}"
        )
        return 0
    finally:
        store.close()


def propose_main(argv: list[str]) -> int:
    """``otstudio propose --project NAME [--labels a,b]``: zero-shot proposals from label names."""
    from otcore.service import ZeroShotRequest, ZeroShotResult, job_result, open_store, run_foreground
    from otcore.settings import load_settings

    ap = argparse.ArgumentParser(
        prog="otstudio propose", description="propose segments from label names (CLIP)"
    )
    ap.add_argument("--project", required=True, help="project name (or id)")
    ap.add_argument("--labels", default=None, help="comma-separated labels (default: the project's labels)")
    args = ap.parse_args(argv)
    settings = load_settings()
    store = open_store(settings)
    try:
        project = store.get_project(args.project)
        if project is None:
            return _fail("otstudio propose", f"no project named {args.project!r}")
        labels = tuple(x.strip() for x in args.labels.split(",") if x.strip()) if args.labels else None
        bar = ProgressBar()
        run = run_foreground(
            store, settings, ZeroShotRequest(project_id=project.id, labels=labels), project.id, bar
        )
        bar.close()
        job = run.job
        if job.status != "done":
            return _fail(
                "otstudio propose", f"{job.status}: {job.message}", 1 if job.status == "cancelled" else 2
            )
        result = job_result(job, ZeroShotResult)
        assert result is not None
        print(
            f"proposed zeroshot: labels={len(result.labels)} text_tower={result.text_tower} "
            f"proposals={result.n_proposals} seconds={run.seconds:.1f}"
        )
        return 0
    finally:
        store.close()
