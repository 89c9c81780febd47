"""Special functions the likelihoods need beyond SciPy's ufuncs."""

from __future__ import annotations

from typing import Any

from scipy import special

__all__ = ["trigamma"]


def trigamma(v: Any) -> Any:
    """The trigamma function, psi'(v) = zeta(2, v) (Hurwitz zeta), for v > 0.

    ``scipy.special.polygamma(1, v)`` computes the same through a Python wrapper that costs
    ~30 us a call, more than the value itself on the few distinct frequencies of a fit.
    """
    return special.zeta(2.0, v)
