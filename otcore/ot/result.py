"""The frozen output of every solver."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["OTResult", "transport_cost"]


@dataclass(frozen=True)
class OTResult:
    """Output of :func:`otcore.ot.sinkhorn`, :func:`otcore.ot.fused_gw` and :func:`otcore.ot.align`.

    Attributes:
        plan: ``[..., N, K]`` transport plan. Always detached (computed without autograd).
        cost: ``[...]`` linear transport cost ``<plan, C>``; differentiable with respect to the
            problem's cost tensor ``C`` (the plan enters as a constant). By the envelope theorem this
            is the gradient of the entropic OT value with respect to ``C`` for the linear problem.
        marginal_error: ``[...]`` per-problem marginal violation of the returned plan (definition in
            each solver's docstring; L1 over both sides).
        n_iter: number of iterations run (the same for every problem of a batch).
        converged: ``True`` when every problem of the batch met the solver's stopping criterion.
        f, g: dual potentials ``[..., N]``, ``[..., K]`` (cost units) when the solver has them, usable as
            ``init=(f, g)`` for a warm start of :func:`otcore.ot.sinkhorn`; ``None`` otherwise.
    """

    plan: torch.Tensor
    cost: torch.Tensor
    marginal_error: torch.Tensor
    n_iter: int
    converged: bool
    f: torch.Tensor | None = None
    g: torch.Tensor | None = None


def transport_cost(plan: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
    """``<T*, C>`` summed over the last two dims, with gradient through ``cost`` only.

    The usual way a method trains through an OT plan it does not differentiate (PLOT's
    ``d_OT = <T*, C>``): ``transport_cost(result.plan, C)`` where ``C`` requires grad.
    """
    return (plan.detach().to(cost.dtype) * cost).sum(dim=(-2, -1))
