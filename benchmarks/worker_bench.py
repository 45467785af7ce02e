"""Job throughput of ``otstudio worker`` processes on one PostgreSQL queue: 1 worker vs 3.

Workers are started first and wait on an empty queue (start-up and imports are not timed); then a
batch of ``--jobs`` ``sleep`` jobs is queued and the time until the last is done is measured, from
submission of the first. Two job lengths: zero-length (``steps=0``: claim + run + finish overhead,
what the queue itself costs) and fixed-length (``--steps`` steps of ``--seconds``, where the workers'
concurrency shows). Runs are interleaved (1, 3, 1, 3, ...); medians and min-max of ``--repeats``.

    source .test-env  # OTSTUDIO_TEST_POSTGRES_URL: a server whose role may create databases
    .venv/bin/python benchmarks/worker_bench.py [--jobs 60] [--repeats 3] [--steps 2 --seconds 0.05]

Prints the table and, last, ``jobs_per_s_3_vs_1_zero: X`` and ``jobs_per_s_3_vs_1_fixed: X``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otcore.jobs import queue  # noqa: E402
from otcore.store import Store  # noqa: E402


def _database(base: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"otstudio_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(base).set(database=name).render_as_string(hide_password=False), (admin, name)


def _drop(handle: object) -> None:
    from sqlalchemy import text

    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _start(n: int, url: str, data_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, OTSTUDIO_DATABASE_URL=url, OTSTUDIO_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "otcore", "worker", "--data-dir", str(data_dir), "--poll", "0.02"]
    return [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        for _ in range(n)
    ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _wait_done(store: Store, ids: list[int], timeout: float = 600.0) -> None:
    """Poll (one count query every 20 ms) until every job in ``ids`` is finished."""
    from sqlalchemy import func, select

    from otcore.store.models import Job

    q = select(func.count()).where(Job.id.in_(ids), Job.status.in_(["done", "failed", "cancelled"]))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with store.read() as s:
            if s.scalar(q) == len(ids):
                return
        time.sleep(0.02)
    raise RuntimeError("jobs did not finish in time")


def run_batch(store: Store, n_jobs: int, params: dict[str, float | int]) -> float:
    """Seconds from the first submission until all ``n_jobs`` are done (workers already idle)."""
    t0 = time.perf_counter()
    ids = [queue.submit(store, "sleep", dict(params)) for _ in range(n_jobs)]
    _wait_done(store, ids)
    dt = time.perf_counter() - t0
    bad = [j.id for j in queue.list_jobs(store, reap=False, limit=n_jobs) if j.status != "done"]
    if bad:
        raise RuntimeError(f"jobs not done: {bad}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=0.05)
    args = ap.parse_args()
    base = os.environ.get("OTSTUDIO_TEST_POSTGRES_URL")
    if not base:
        print("worker_bench: set OTSTUDIO_TEST_POSTGRES_URL (a PostgreSQL server; source .test-env)")
        return 2
    url, handle = _database(base)
    results: dict[tuple[str, int], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(url, data_dir=Path(tmp))
            pools = {n: _start(n, url, Path(tmp) / f"w{n}") for n in (1, 3)}
            try:
                # warm-up: every worker has imported and claimed something
                run_batch(store, 6, {"steps": 0})
                cases = {
                    "zero": {"steps": 0},
                    "fixed": {"steps": args.steps, "seconds": args.seconds},
                }
                for _ in range(args.repeats):
                    for n in (1, 3):
                        # only pool n listens: the other pool is paused (SIGSTOP) for this batch
                        for m, procs in pools.items():
                            for p in procs:
                                p.send_signal(signal.SIGCONT if m == n else signal.SIGSTOP)
                        time.sleep(0.2)
                        for case, params in cases.items():
                            dt = run_batch(store, args.jobs, params)
                            results.setdefault((case, n), []).append(args.jobs / dt)
            finally:
                for procs in pools.values():
                    for p in procs:
                        p.send_signal(signal.SIGCONT)
                    _stop(procs)
                store.close()
    finally:
        _drop(handle)
    fixed = f"{args.steps}×{args.seconds:g}s"
    print(
        f"jobs per second, {args.jobs} sleep jobs per batch, median (min-max) of {args.repeats}, PostgreSQL"
    )
    print(f"{'job length':<12} {'1 worker':>22} {'3 workers':>22} {'3 / 1':>7}")
    ratios = {}
    for case, label in (("zero", "0 s"), ("fixed", fixed)):
        one, three = results[(case, 1)], results[(case, 3)]
        ratios[case] = statistics.median(three) / statistics.median(one)
        cell = [f"{statistics.median(v):7.1f} ({min(v):.1f}-{max(v):.1f})" for v in (one, three)]
        print(f"{label:<12} {cell[0]:>22} {cell[1]:>22} {ratios[case]:7.2f}")
    print(f"cpu cores: {os.cpu_count()}")
    print(f"jobs_per_s_3_vs_1_zero: {ratios['zero']:.2f}")
    print(f"jobs_per_s_3_vs_1_fixed: {ratios['fixed']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
