"""Optimal transport for otstudio: geometry → problem → solver → result (pure torch, batched).

- Geometry: :func:`cosine_cost`, :func:`sq_euclidean_cost`, :func:`sliced_wasserstein_cost`,
  :func:`temporal_prior`, and the implicit banded temporal structure (:func:`band_sum`).
- Problems: :class:`LinearProblem`, :class:`TemporalFGWProblem` (frozen dataclasses).
- Solvers: :func:`sinkhorn` (entropic, balanced or KL-unbalanced, with prior), :func:`fused_gw` (ASOT),
  :func:`align` (VAOT frame↔frame with a dummy frame).
- Result: :class:`OTResult`; :func:`transport_cost` gives ``<T*, C>`` with gradient through ``C`` only.
- Decoding: :func:`plan_to_labels`, :func:`plan_to_segments`.
"""

from .align import align
from .decode import plan_to_labels, plan_to_segments
from .fgw import fused_gw
from .geometry import band_sum, cosine_cost, sliced_wasserstein_cost, sq_euclidean_cost, temporal_prior
from .problems import LinearProblem, TemporalFGWProblem
from .result import OTResult, transport_cost
from .sinkhorn import sinkhorn

__all__ = [
    "cosine_cost",
    "sq_euclidean_cost",
    "sliced_wasserstein_cost",
    "temporal_prior",
    "band_sum",
    "LinearProblem",
    "TemporalFGWProblem",
    "OTResult",
    "transport_cost",
    "sinkhorn",
    "fused_gw",
    "align",
    "plan_to_labels",
    "plan_to_segments",
]
