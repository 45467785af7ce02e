"""The frozen output of every solver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .decode import plan_to_labels, plan_to_segments

if TYPE_CHECKING:
    from otcore.types import Segment

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

    def labels(self) -> torch.Tensor:
        """Per-row label ``argmax_k plan[..., i, k]`` (``LongTensor [..., N]``), as :func:`plan_to_labels`.

        Example:
            >>> OTResult(torch.tensor([[0.4, 0.1], [0.0, 0.5]]), torch.tensor(0.0), torch.tensor(0.0), 1, True).labels()
            tensor([0, 1])
        """
        return plan_to_labels(self.plan)

    def segments(self, fps: float, names: Sequence[str] | None = None) -> list[Segment]:
        """Maximal runs of one label of an unbatched plan ``[N, K]`` as segments in seconds
        (frame ``i`` covers ``[i/fps, (i+1)/fps)``; ``names[k]`` names column ``k``), as
        :func:`plan_to_segments`.

        Example:
            >>> plan = torch.tensor([[0.3, 0.0], [0.3, 0.0], [0.0, 0.4]])
            >>> OTResult(plan, torch.tensor(0.0), torch.tensor(0.0), 1, True).segments(2.0, ["a", "b"])
            [Segment(label='a', start=0.0, end=1.0, score=None), Segment(label='b', start=1.0, end=1.5, score=None)]
        """
        if self.plan.ndim != 2:
            raise ValueError(f"segments() takes an unbatched plan [N, K], got shape {tuple(self.plan.shape)}")
        return plan_to_segments(self.labels(), fps, names)


def transport_cost(plan: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
    """``<T*, C>`` summed over the last two dims, with gradient through ``cost`` only.

    The usual way a method trains through an OT plan it does not differentiate (PLOT's
    ``d_OT = <T*, C>``): ``transport_cost(result.plan, C)`` where ``C`` requires grad.
    """
    return (plan.detach().to(cost.dtype) * cost).sum(dim=(-2, -1))
