"""VAOT alignment (``otcore.ot.align``) against POT's dense entropic fused GW: time and peak memory.

Each measurement runs in a fresh subprocess (one thread) so that peak resident memory is the solver's
own: ``peak RSS − RSS after the inputs are built``. Both solve the same frame↔frame problem (cosine
cost of two videos' features, balanced, ε = 0.07, α = 0.3, band radius 0.04, 25 outer iterations);
POT needs the dense ``N×N`` and ``M×M`` structures (square loss), ours applies the bands as box filters.
Runs are interleaved (ours, POT, ours, POT, ...); medians and min-max of ``--repeats``.

    .venv/bin/python benchmarks/align_bench.py [--sizes 1000,2000,4000] [--repeats 3]

Prints per size the table and, last, ``align_time_vs_pot_fgw: X`` and ``align_memory_vs_pot_fgw: X``
(ours / POT at N = 2000; targets <= 0.5 and <= 1) and the growth of our time and memory per 2× N.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[3])
import torch
torch.set_num_threads(1)
n = int(sys.argv[2]); which = sys.argv[1]
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
g = torch.Generator().manual_seed(n)
proto = torch.randn(12, 64, generator=g)
lab_x = torch.div(torch.arange(n) * 12, n, rounding_mode="floor")
lab_y = torch.div(torch.arange(n) * 12, n, rounding_mode="floor")
x = proto[lab_x] + 0.5 * torch.randn(n, 64, generator=g)
y = proto[lab_y] + 0.5 * torch.randn(n, 64, generator=g)
if which == "ours":
    from otcore.ot import align
    base = rss()
    t, c = time.perf_counter(), time.process_time()
    res = align(x, y, eps=0.07, alpha=0.3, r=0.04, max_iter=25)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
else:
    import ot, warnings
    from otcore.ot import cosine_cost
    C = cosine_cost(x, y).double()
    idx = torch.arange(n)
    d = (idx[:, None] - idx[None, :]).abs()
    h = int(n * 0.04)
    C1 = ((d > 0) & (d <= h)).double() / 0.04
    C2 = C1.clone()
    a = torch.full((n,), 1.0 / n, dtype=torch.float64)
    base = rss()
    t, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ot.gromov.entropic_fused_gromov_wasserstein(C, C1, C2, a, a, loss_fun="square_loss", epsilon=0.07,
            alpha=0.3, max_iter=25, tol=0.0, symmetric=True)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
print(json.dumps({"wall": wall, "cpu": cpu, "mem": peak - base}))
"""


def run(which: str, n: int) -> dict[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, which, str(n), str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):8.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="1000,2000,4000", help="N = M values (POT only up to 2000)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pot-max", type=int, default=2000, help="largest N for POT's dense solver")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()
    print(
        f"VAOT align vs POT dense entropic FGW, float32 (ours) / float64 (POT), 1 thread, cpu; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{'N=M':>6s} {'solver':22s} {'wall s median [min-max]':>26s} {'CPU s':>26s} {'peak MB beyond inputs':>26s}"
    )
    res: dict[tuple[str, int], dict[str, list[float]]] = {}
    for n in sizes:
        solvers = ["ours"] + (["pot"] if n <= args.pot_max else [])
        for r in range(args.repeats):
            for which in solvers if r % 2 == 0 else solvers[::-1]:
                m = run(which, n)
                d = res.setdefault((which, n), {"wall": [], "cpu": [], "mem": []})
                for k in d:
                    d[k].append(m[k])
        for which in solvers:
            d = res[(which, n)]
            name = "otstudio align" if which == "ours" else "POT entropic FGW dense"
            print(f"{n:6d} {name:22s} {med(d['wall']):>26s} {med(d['cpu']):>26s} {med(d['mem']):>26s}")
    for a, b in zip(sizes, sizes[1:]):
        if ("ours", a) in res and ("ours", b) in res and b == 2 * a:
            ta = statistics.median(res[("ours", a)]["cpu"])
            tb = statistics.median(res[("ours", b)]["cpu"])
            ma = statistics.median(res[("ours", a)]["mem"])
            mb = statistics.median(res[("ours", b)]["mem"])
            print(f"growth per 2x N ({a} -> {b}): CPU time {tb / ta:.2f}x, memory {mb / max(ma, 1e-9):.2f}x")
    if ("ours", 2000) in res and ("pot", 2000) in res:
        o, q = res[("ours", 2000)], res[("pot", 2000)]
        print(f"align_time_vs_pot_fgw: {statistics.median(o['cpu']) / statistics.median(q['cpu']):.3f}")
        print(f"align_memory_vs_pot_fgw: {statistics.median(o['mem']) / statistics.median(q['mem']):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
