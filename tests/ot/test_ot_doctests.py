"""The examples in the solver layer's docstrings run and show what they print (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

MODULES = ["align", "decode", "fgw", "geometry", "problems", "result", "sinkhorn"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(f"otcore.ot.{module}")
    torch.manual_seed(0)
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert res.failed == 0, f"{res.failed} of {res.attempted} docstring examples failed in otcore.ot.{module}"


def test_solver_docstrings_have_examples() -> None:
    """Each solver's docstring carries an example that the doctest above runs."""
    from otcore.ot import OTResult, align, sinkhorn

    for fn in (sinkhorn, align, OTResult.labels, OTResult.segments):
        assert fn.__doc__ is not None and ">>>" in fn.__doc__, fn.__qualname__
