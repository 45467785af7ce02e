"""Benchmark of otcore.ot against same-class entropic solvers, side by side in one process.

Run: ``.venv/bin/python benchmarks/ot_bench.py`` (``--quick`` for a short run, ``--repeats R``,
``--threads N``, ``--cases SUBSTR,...`` to run only the cases whose names contain one of the strings,
e.g. ``--cases 100000x32,per-iteration``). Every Sinkhorn case is solved by otstudio's
:func:`otcore.ot.sinkhorn`, POT's exp-domain ``ot.sinkhorn`` (``method="sinkhorn"``), POT's
``sinkhorn_log`` and, when ``ott-jax`` is installed (``pip install -e .[bench]``), OTT-JAX's
jit-compiled ``Sinkhorn``, timed interleaved (the order rotates every repeat), wall and CPU time,
medians with min-max.

Same marginal error, the rule for every case and every peer: ours first runs to ``1e-6``; each peer is
then brought (untimed) as close as it can get to ours' error; the *common target* of a pair is the
larger of the two errors, ``max(ours, peer)``. When the peer reaches ours' error, the common target is
ours' and both are timed to it. When the peer stalls above it (float32 round-off), ours is timed again
with ``tol`` = the peer's error (the row ``otstudio to <peer>'s error``), so neither side is timed to an
error the other was not asked for; both errors are printed. The speedup against a peer divides the
peer's time by ours' time at their common target.

The last lines are ``speedup_vs_pot_exp: X``, ``speedup_vs_pot_log: X`` and ``speedup_vs_ott: X``
(geometric means over the Sinkhorn cases of peer median CPU time / ours at the common target) and
``per_iter_vs_floor: X`` (our time per iteration at 10000x200 float32 over one ``K @ v`` plus one
``Kᵀ @ u``, interleaved, medians). See benchmarks/README.md.
"""

# ruff: noqa: B023  (the timed lambdas are called inside the loop iteration that defines them)
from __future__ import annotations

import os

# one thread for XLA as for torch (set before jax is imported)
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import ot
import torch

from otcore.ot import LinearProblem, TemporalFGWProblem, cosine_cost, fused_gw, sinkhorn

try:  # optional peer: OTT-JAX (the `bench` extra)
    import jax
    import jax.numpy as jnp
    from ott.geometry import geometry as ott_geometry
    from ott.problems.linear import linear_problem as ott_problem
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    HAVE_OTT = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_OTT = False

TOL = 1e-6


@dataclass
class Row:
    case: str
    solver: str
    seconds: float
    iters: str
    marg_err: float
    nan: bool
    note: str = ""


def make_problem(n: int, k: int, seed: int, d: int = 512, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Cosine cost between frames drawn around K' prototypes in temporal runs and K prompts near prototypes.

    Prototypes share a common direction (CLIP-like anisotropy: cosines between unrelated frames ~0.3-0.5);
    runs have geometric lengths (mean ~ N / (3 K')); per-frame noise; prompts sit near a prototype (two
    prompts can share one), so many costs are close and the problem is not trivially easy.
    """
    g = torch.Generator().manual_seed(seed)
    kp = max(4, min(k, 64))
    common = torch.randn(d, generator=g)
    protos = torch.nn.functional.normalize(torch.randn(kp, d, generator=g) + 1.0 * common, dim=-1)
    mean_run = max(2.0, n / (3 * kp))
    labels = torch.empty(n, dtype=torch.long)
    i = 0
    while i < n:
        length = int(np.random.default_rng(seed + i).geometric(1.0 / mean_run))
        labels[i : i + length] = int(torch.randint(kp, (1,), generator=g))
        i += length
    x = protos[labels] + 0.7 * torch.randn(n, d, generator=g) / math.sqrt(d)
    which = torch.randint(kp, (k,), generator=g)
    y = protos[which] + 0.5 * torch.randn(k, d, generator=g) / math.sqrt(d)
    return cosine_cost(x, y).to(dtype)


def marginal_error(plan: torch.Tensor | np.ndarray, a: torch.Tensor, b: torch.Tensor) -> float:
    """The one criterion every solver is judged by: ||T1 - a||_1 + ||T^T 1 - b||_1 (max over a batch)."""
    p = torch.as_tensor(np.asarray(plan) if not isinstance(plan, torch.Tensor) else plan).double().cpu()
    a64, b64 = a.double().cpu(), b.double().cpu()
    e = (p.sum(-1) - a64).abs().sum(-1) + (p.sum(-2) - b64).abs().sum(-1)
    return float(e.max())


@dataclass
class Timing:
    """Wall and CPU seconds of every repeat of one solver on one case."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def cell(self, which: str) -> str:
        xs = self.wall if which == "wall" else self.cpu
        return f"{statistics.median(xs) * 1e3:9.1f} [{min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f}]"

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)


@dataclass
class Solver:
    """A prepared solver run: ``run()`` is the timed region; ``check()`` (untimed) returns the plan's
    marginal error and the iteration count, ``note`` says how the peer was brought to the target."""

    name: str
    run: Callable[[], object]
    check: Callable[[], tuple[float, str]]
    note: str = ""


def interleave(solvers: Sequence[Solver], repeats: int) -> dict[str, Timing]:
    """Run every solver ``repeats`` times, A B C A B C with the order rotated each repeat."""
    out = {s.name: Timing() for s in solvers}
    for s in solvers:  # one untimed warm-up each (allocator, caches, jit)
        s.run()
    for r in range(repeats):
        order = list(solvers[r % len(solvers) :]) + list(solvers[: r % len(solvers)])
        for s in order:
            w, c = time.perf_counter(), time.process_time()
            s.run()
            out[s.name].cpu.append(time.process_time() - c)
            out[s.name].wall.append(time.perf_counter() - w)
    return out


def _pot_iterations(
    a: torch.Tensor, b: torch.Tensor, C: torch.Tensor, eps: float, method: str, target: float, cap: int
) -> tuple[int, str]:
    """Iterations POT needs to bring its plan's marginal error to ``target`` (untimed search).

    Chunks of 10 iterations, each warm-started from the previous dual potentials (the same iterates
    as one long run). If POT stalls above the target (no 2 % progress over 200 iterations, within 10x
    of it) or reaches ``cap``, it gets the iterations at which it first came within 5 % of its best.
    """
    warm = None
    it, hist = 0, []
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan, log = ot.sinkhorn(
                a, b, C, eps, method=method, numItermax=10, stopThr=0.0, warmstart=warm, log=True, warn=False
            )
        warm = (log["log_u"], log["log_v"]) if "log_u" in log else (log["u"].log(), log["v"].log())
        it += 10
        if not torch.isfinite(plan).all():
            return it, "non-finite"
        err = marginal_error(plan, a, b)
        hist.append((it, err))
        if err <= target:
            return it, "to target"
        errs = [h[1] for h in hist]
        stalled = len(hist) >= 30 and errs[-1] <= 10 * target and min(errs[-20:]) > 0.98 * min(errs[:-20])
        if stalled or it >= cap:
            best = min(errs)
            k = next(h[0] for h in hist if h[1] <= 1.05 * best)
            return k, ("stalled" if stalled else "cap") + f" at {best:.1e}: iterations to its best"


def pot_solver(
    name: str, method: str, C: torch.Tensor, eps: float, targets: Sequence[float], cap: int
) -> Solver:
    """POT on every problem of ``C [B, N, K]`` (a loop: POT has no batched Sinkhorn), each run for the
    iterations it needs to reach its problem's target, with ``stopThr=0`` (POT's own loop, unchanged)."""
    n, k = C.shape[-2:]
    a = torch.full((n,), 1.0 / n, dtype=C.dtype, device=C.device)
    b = torch.full((k,), 1.0 / k, dtype=C.dtype, device=C.device)
    found = [_pot_iterations(a, b, C[i], eps, method, targets[i], cap) for i in range(C.shape[0])]
    iters = [f[0] for f in found]
    plans: list[torch.Tensor] = []

    def run() -> None:
        plans.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(C.shape[0]):
                plans.append(
                    ot.sinkhorn(a, b, C[i], eps, method=method, numItermax=iters[i], stopThr=0.0, warn=False)
                )

    def check() -> tuple[float, str]:
        err = max(marginal_error(p, a, b) for p in plans)
        its = f"{min(iters)}" if min(iters) == max(iters) else f"{min(iters)}-{max(iters)}"
        return err, its

    notes = sorted({f[1] for f in found})
    return Solver(name, run, check, "; ".join(notes))


def ours_solver(
    C: torch.Tensor,
    eps: float,
    cap: int,
    groups: Sequence[slice] | None = None,
    tol: float = TOL,
    name: str = "otstudio sinkhorn",
) -> Solver:
    """otcore's sinkhorn to ``tol``: one batched call (or one call per group of problems, e.g. per
    pyramid level)."""
    n, k = C.shape[-2:]
    a = torch.full((n,), 1.0 / n)
    b = torch.full((k,), 1.0 / k)
    parts = [C] if groups is None else [C[g] for g in groups]
    res: list[object] = []

    def run() -> None:
        res.clear()
        for part in parts:
            res.append(sinkhorn(LinearProblem(part), eps=eps, max_iter=cap, tol=tol))

    def check() -> tuple[float, str]:
        err = max(marginal_error(r.plan, a, b) for r in res)  # type: ignore[attr-defined]
        its = sorted({r.n_iter for r in res})  # type: ignore[attr-defined]
        return err, "-".join(str(i) for i in (its[0], its[-1])) if len(its) > 1 else str(its[0])

    return Solver(name, run, check, "" if tol == TOL else f"tol {tol:.1e}")


def ott_solver(C: torch.Tensor, eps: float, target: float, cap: int) -> Solver:
    """OTT-JAX's Sinkhorn (log domain, its default), jit-compiled and vmapped over the batch; its own
    stop (L1 marginal error of the side not just updated, every 10 iterations) at the same target; the
    compilation is done before the timing (warm-up run)."""
    solver = ott_sinkhorn.Sinkhorn(threshold=target, max_iterations=cap, inner_iterations=10, norm_error=1)

    def one(c: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        out = solver(ott_problem.LinearProblem(ott_geometry.Geometry(cost_matrix=c, epsilon=eps)))
        return out.matrix, out.n_iters

    fn = jax.jit(jax.vmap(one))
    Cj = jnp.asarray(C.cpu().numpy())
    n, k = C.shape[-2:]
    a = torch.full((n,), 1.0 / n)
    b = torch.full((k,), 1.0 / k)
    box: list[tuple[jnp.ndarray, jnp.ndarray]] = []

    def run() -> None:
        box.clear()
        P, it = fn(Cj)
        P.block_until_ready()
        box.append((P, it))

    def check() -> tuple[float, str]:
        P, it = box[0]
        its = np.asarray(it)
        return marginal_error(np.asarray(P), a, b), f"{its.min()}" if its.min() == its.max() else (
            f"{its.min()}-{its.max()}"
        )

    return Solver("OTT-JAX sinkhorn (jit)", run, check, "own stop, same target")


@dataclass
class CaseResult:
    case: str
    rows: list[tuple[str, Timing, float, str, str]]
    #: peer name -> the name of our row timed to their common target
    pairs: dict[str, str] = field(default_factory=dict)


OURS = "otstudio sinkhorn"
SHORT = {"POT sinkhorn (exp)": "POT exp", "POT sinkhorn_log": "POT log", "OTT-JAX sinkhorn (jit)": "OTT"}


def run_case(
    case: str,
    C: torch.Tensor,
    eps: float,
    cap: int,
    pot_cap: int,
    repeats: int,
    groups: Sequence[slice] | None = None,
    with_log: bool = True,
) -> CaseResult:
    """One Sinkhorn case ``C [B, N, K]`` (uniform marginals) through every solver, interleaved, each
    peer against ours at their common target ``max(ours' error, the peer's error)``."""
    ours = ours_solver(C, eps, cap, groups)
    ours.run()
    parts = [C] if groups is None else [C[g] for g in groups]
    n, k = C.shape[-2:]
    a = torch.full((n,), 1.0 / n)
    b = torch.full((k,), 1.0 / k)
    outs = [sinkhorn(LinearProblem(p), eps=eps, max_iter=cap, tol=TOL) for p in parts]
    plan = torch.cat([o.plan for o in outs])
    targets = [max(TOL, marginal_error(plan[i], a, b)) for i in range(C.shape[0])]
    ours_err = max(targets)
    peers = [pot_solver("POT sinkhorn (exp)", "sinkhorn", C, eps, targets, pot_cap)]
    if with_log:
        peers.append(pot_solver("POT sinkhorn_log", "sinkhorn_log", C, eps, targets, pot_cap))
    if HAVE_OTT:
        peers.append(ott_solver(C, eps, max(targets), cap))
    solvers = [ours]
    pairs: dict[str, str] = {}
    extra: dict[float, str] = {}
    for peer in peers:
        peer.run()  # untimed: what error does the peer reach?
        peer_err, _ = peer.check()
        if peer_err > 1.05 * ours_err:  # stalls above ours: time ours to the peer's error too
            common = float(peer_err)
            name = extra.get(common)
            if name is None:
                name = f"otstudio to {SHORT.get(peer.name, peer.name)}'s error"
                solvers.append(ours_solver(C, eps, cap, groups, tol=common, name=name))
                extra[common] = name
            pairs[peer.name] = name
        else:
            pairs[peer.name] = OURS
    solvers += peers
    timings = interleave(solvers, repeats)
    rows = []
    for s in solvers:
        err, its = s.check()
        rows.append((s.name, timings[s.name], err, its, s.note))
    return CaseResult(case, rows, pairs)


def per_iteration(n: int, k: int, eps: float, repeats: int) -> tuple[float, list[str]]:
    """Our time per iteration (difference of two fixed-length runs, set-up excluded) next to the floor
    (one ``K @ v`` plus one ``Kᵀ @ u`` on the same N×K float32 matrix; also with the 32-row blocked
    column product that float32 needs at this N), interleaved, medians of ``repeats``."""
    C = make_problem(n, k, seed=n + k)
    Kmat = torch.exp(-C / eps * 0.01)
    u = torch.rand(n)
    v = torch.rand(k)
    n1, n2 = 20, 220
    nb = n // 32

    def floor() -> None:
        for _ in range(50):
            torch.mv(Kmat, v)
            torch.mv(Kmat.t(), u)

    def floor_blocked() -> None:
        for _ in range(50):
            torch.mv(Kmat, v)
            torch.bmm(u[: nb * 32].view(nb, 1, 32), Kmat[: nb * 32].view(nb, 32, k)).sum(0)

    def ours1() -> None:
        sinkhorn(LinearProblem(C), eps=eps, max_iter=n1, tol=0.0)

    def ours2() -> None:
        sinkhorn(LinearProblem(C), eps=eps, max_iter=n2, tol=0.0)

    a = torch.full((n,), 1.0 / n)
    b = torch.full((k,), 1.0 / k)

    def pot1() -> None:
        ot.sinkhorn(a, b, C, eps, method="sinkhorn", numItermax=n1, stopThr=0.0, warn=False)

    def pot2() -> None:
        ot.sinkhorn(a, b, C, eps, method="sinkhorn", numItermax=n2, stopThr=0.0, warn=False)

    names = ["floor", "floor_blocked", "ours1", "ours2", "pot1", "pot2"]
    fns = [floor, floor_blocked, ours1, ours2, pot1, pot2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = interleave([Solver(nm, f, lambda: (0.0, "")) for nm, f in zip(names, fns)], repeats)
    per = {}
    for nm in names:
        per[nm] = statistics.median(t[nm].cpu)
    fl, flb = per["floor"] / 50, per["floor_blocked"] / 50
    ours = (per["ours2"] - per["ours1"]) / (n2 - n1)
    pot = (per["pot2"] - per["pot1"]) / (n2 - n1)
    return ours / fl, [
        f"per-iteration {n}x{k} float32 eps={eps} (CPU time, medians of {repeats}): ours {ours * 1e3:.3f} ms; "
        f"floor K@v + K^T@u {fl * 1e3:.3f} ms -> {ours / fl:.2f}x floor; with the blocked K^T@u "
        f"{flb * 1e3:.3f} ms -> {ours / flb:.2f}x; POT sinkhorn (exp) {pot * 1e3:.3f} ms ({pot / fl:.2f}x floor)"
    ]


def plot_tal_costs(videos: int = 8, frames: int = 1200, levels: int = 4, classes: int = 20, prompts: int = 4):
    """PLOT-TAL-shaped costs: per pyramid level ``l`` a batch of ``videos·classes`` problems
    ``[T0/2^l, prompts]`` (frames of a 10-min video at 2 fps against a class's prompts). Returns the
    per-level batches (unpadded) and the same problems padded to ``T0`` as one batch with its masks."""
    per_level = []
    for l in range(levels):
        t = frames // 2**l
        per_level.append(
            torch.stack([make_problem(t, prompts, seed=97 * l + i, d=64) for i in range(videos * classes)])
        )
    return per_level


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def dense_structure(n: int, k: int, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.arange(n)
    d = (idx[:, None] - idx[None, :]).abs()
    cv = ((d > 0) & (d <= int(n * radius))).double() / radius
    ck = 1.0 - torch.eye(k, dtype=torch.float64)
    return cv, ck


def run_fgw_cases(
    rows: list[Row], sizes: tuple[int, ...], ratios_fgw: dict[int, tuple[float, float]]
) -> None:
    eps, alpha, radius, k = 0.07, 0.3, 0.04, 10
    for n in sizes:
        C = make_problem(n, k, seed=7 * n, dtype=torch.float64)
        a = torch.full((n,), 1.0 / n, dtype=torch.float64)
        b = torch.full((k,), 1.0 / k, dtype=torch.float64)
        case = f"fgw {n}x{k} eps={eps} a={alpha} (float64)"
        ours, t_ours = timed(
            lambda: fused_gw(TemporalFGWProblem(C, radius=radius, alpha=alpha), eps=eps, max_iter=25, tol=0.0)
        )
        rows.append(
            Row(
                case,
                "ours fused_gw balanced",
                t_ours,
                str(ours.n_iter),
                marginal_error(ours.plan, a, b),
                bool(torch.isnan(ours.plan).any()),
            )
        )
        ub, t_ub = timed(
            lambda: fused_gw(
                TemporalFGWProblem(C, radius=radius, alpha=alpha, tau_b=0.05), eps=eps, max_iter=25, tol=0.0
            )
        )
        rows.append(
            Row(
                case,
                "ours fused_gw tau_b=0.05",
                t_ub,
                str(ub.n_iter),
                float((ub.plan.sum(-1) - a).abs().sum()),
                bool(torch.isnan(ub.plan).any()),
                "rows only (actions relaxed)",
            )
        )
        cv, ck = dense_structure(n, k, radius)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (plan, log), t_pot = timed(
                lambda: ot.gromov.entropic_fused_gromov_wasserstein(
                    C,
                    cv,
                    ck,
                    a,
                    b,
                    loss_fun="square_loss",
                    epsilon=eps,
                    alpha=alpha,
                    max_iter=25,
                    tol=0.0,
                    symmetric=True,
                    log=True,
                )
            )
        rows.append(
            Row(
                case,
                "POT entropic_fused_gw (dense)",
                t_pot,
                "25 outer",
                marginal_error(plan, a, b),
                bool(torch.isnan(plan).any()),
                "square loss, N×N structure",
            )
        )
        ratios_fgw[n] = (t_pot / t_ours, t_pot / t_ub)


def print_case(res: CaseResult) -> None:
    """One line per solver; a peer's line ends with ours' speedup at their common target (CPU time)."""
    times = {name: t for name, t, *_ in res.rows}
    for name, t, err, its, note in res.rows:
        pair = res.pairs.get(name)
        if pair is not None:
            ratio = t.cpu_median / times[pair].cpu_median
            note = (note + "; " if note else "") + f"ours x{ratio:.2f} faster at common target ({pair})"
        print(
            f"{res.case:34s} {name:28s} {t.cell('wall'):>24s} {t.cell('cpu'):>24s} {its:>9s} {err:8.1e}  {note}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables; the last lines are the three headline speedups."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every solver (default 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per solver (default 5)")
    parser.add_argument("--no-fgw", action="store_true", help="skip the fused-GW section")
    parser.add_argument(
        "--cases",
        default=None,
        help="comma-separated substrings: run only the cases whose names contain one "
        "(e.g. '100000x32,batch,plot-tal,per-iteration,fgw'); default all",
    )
    args = parser.parse_args(argv)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None

    def want(name: str) -> bool:
        return wanted is None or any(w in name for w in wanted)

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.set_default_device("cuda")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"otcore.ot vs POT {ot.__version__}"
        + (
            f", OTT-JAX (jax {jax.__version__}, device {jax.devices()[0]})"
            if HAVE_OTT
            else ", OTT-JAX not installed"
        )
        + f"; torch {torch.__version__} on {device}, threads={torch.get_num_threads()}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; target marginal error {TOL:g}, float32"
    )
    header = (
        f"{'case':34s} {'solver':28s} {'wall ms median [min-max]':>24s} {'CPU ms median [min-max]':>24s} "
        f"{'iters':>9s} {'marg.err':>8s}  note"
    )
    print(header)
    print("-" * len(header))
    results: list[CaseResult] = []
    sizes = [(1000, 20), (10000, 200)] if args.quick else [(1000, 20), (10000, 200), (100000, 32)]
    for n, k in sizes:
        for eps in (0.05, 0.01):
            if not want(f"sinkhorn {n}x{k} eps={eps}"):
                continue
            big = n * k >= 3_000_000
            C = make_problem(n, k, seed=n + k)[None]
            res = run_case(
                f"sinkhorn {n}x{k} eps={eps}",
                C,
                eps,
                cap=5000,
                pot_cap=1500 if big else 5000,
                repeats=max(1, args.repeats // 2) if big else args.repeats,
                with_log=True,
            )
            print_case(res)
            results.append(res)
    bsz, n, k = 20, 2000, 16
    Cb = torch.stack([make_problem(n, k, seed=1000 + i) for i in range(bsz)])
    for eps in (0.05, 0.01):
        if not want(f"batch {bsz}x{n}x{k} eps={eps}"):
            continue
        res = run_case(
            f"batch {bsz}x{n}x{k} eps={eps}", Cb, eps, cap=5000, pot_cap=5000, repeats=args.repeats
        )
        print_case(res)
        results.append(res)
    # PLOT-TAL-shaped: 8 videos x 4 levels x 20 classes, 4 prompts, eps 0.1 (one call per level for ours)
    levels = plot_tal_costs(videos=4 if args.quick else 8) if want("plot-tal level") else []
    for l, Cl in enumerate(levels):
        if not want(f"plot-tal level {l} {Cl.shape[0]}x{Cl.shape[1]}x{Cl.shape[2]}"):
            continue
        res = run_case(
            f"plot-tal level {l} {Cl.shape[0]}x{Cl.shape[1]}x{Cl.shape[2]}",
            Cl,
            0.1,
            cap=5000,
            pot_cap=5000,
            repeats=max(3, args.repeats // 2),
            with_log=not args.quick,
        )
        print_case(res)
        results.append(res)
    per_iter = float("nan")
    if want("per-iteration 10000x200"):
        per_iter, lines = per_iteration(10000, 200, 0.01, repeats=args.repeats)
        for line in lines:
            print(line)
    if not args.no_fgw and want("fgw"):
        fgw_rows: list[Row] = []
        ratios_fgw: dict[int, tuple[float, float]] = {}
        run_fgw_cases(fgw_rows, (1000,) if args.quick else (1000, 4000), ratios_fgw)
        for r in fgw_rows:
            print(
                f"{r.case:38s} {r.solver:31s} {r.seconds * 1e3:9.1f} ms {r.iters:>9s} {r.marg_err:9.1e}  {r.note}"
            )
        for n_, (bal, unb) in ratios_fgw.items():
            print(
                f"fused_gw speedup vs POT dense FGW at N={n_}: {bal:.1f}x balanced, {unb:.1f}x ASOT default"
            )

    def geo(peer: str, which: str) -> tuple[float, int, float]:
        ratios = []
        for res in results:
            t = {name: tm for name, tm, *_ in res.rows}
            if peer in t:
                ours = t[res.pairs.get(peer, OURS)]  # ours at the pair's common target
                pt = t[peer]
                ratios.append(
                    pt.cpu_median / ours.cpu_median if which == "cpu" else pt.wall_median / ours.wall_median
                )
        if not ratios:
            return float("nan"), 0, float("nan")
        return math.exp(sum(math.log(r) for r in ratios) / len(ratios)), len(ratios), min(ratios)

    peers = [("POT sinkhorn (exp)", "pot_exp"), ("POT sinkhorn_log", "pot_log")]
    if HAVE_OTT:
        peers.append(("OTT-JAX sinkhorn (jit)", "ott"))
    for peer, key in peers:
        g, m, lo = geo(peer, "wall")
        print(f"speedup_vs_{key} (wall time): {g:.2f} over {m} cases, lowest {lo:.2f}")
    for peer, key in peers:
        g, m, lo = geo(peer, "cpu")
        print(f"speedup_vs_{key}: {g:.2f}")
    if not math.isnan(per_iter):
        print(f"per_iter_vs_floor: {per_iter:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
