"""How many responses are needed: for a margin of error, or to detect a difference.

Formulas (normal approximation, two-sided)
------------------------------------------
NPS, margin ``E`` (points / 100): ``n = z^2 V / E^2 - 3`` with ``V = p + d - (p - d)^2``, the
per-response variance of NPS; the ``- 3`` counts the pseudo-responses of the adjusted Wald
interval (Rocks 2016). NPS, difference ``D`` between two independent samples of equal size:
``n = (z_{1-a/2} + z_{1-b})^2 (V_1 + V_2) / D^2 - 3`` per sample.
Proportions (CSAT): ``V = p (1 - p)``. Means (CES): ``V = sd^2`` (no ``- 3``).
Without assumed shares the worst case is used: ``p = d = 0.5`` (V = 1) for NPS, ``p = 0.5`` for
proportions; for CES an SD of 1.5 points on 1-7 unless given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox.errors import MetricError
from rox.experience import intervals
from rox.experience.metrics import measure
from rox.results import Result

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["SampleSizePlan", "sample_size"]

_DEFAULT_CES_SD = 1.5


@dataclass(frozen=True, eq=False)
class SampleSizePlan(Result):
    """Responses needed, with the assumptions used.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row: ``metric``, ``goal`` (``margin`` or ``difference``), ``target`` (points),
        ``variance`` (per response, on the metric's unit / 100 for NPS and CSAT),
        ``assumption``, ``n`` (responses needed, per sample for a difference).
    explanation : str
        The plan in one sentence.
    """

    explanation: str = ""

    @property
    def n(self) -> int:
        """Responses needed (per sample when detecting a difference)."""
        return int(self.frame["n"].iloc[0])

    def __str__(self) -> str:
        return self.explanation


def sample_size(
    metric: str = "nps",
    *,
    margin: float | None = None,
    difference: float | None = None,
    promoters: float | None = None,
    detractors: float | None = None,
    satisfied: float | None = None,
    sd: float | None = None,
    ws: Workspace | None = None,
    level: float = 0.95,
    power: float = 0.8,
    **filters: Any,
) -> SampleSizePlan:
    """Plan a survey: responses needed for a ``margin`` of error or to detect a ``difference``.

    Parameters
    ----------
    metric : {'nps', 'csat', 'ces'}
    margin : float, optional
        Half-width of the confidence interval wanted, in points (NPS points, CSAT percentage
        points, CES scale points).
    difference : float, optional
        Smallest change to detect between two samples, in the same unit.
    promoters, detractors, satisfied : float, optional
        Assumed shares in percent (NPS; CSAT). Default: taken from ``ws`` if given, else the
        worst case.
    sd : float, optional
        Assumed standard deviation of CES answers (default: from ``ws``, else 1.5).
    ws : Workspace, optional
        Take the assumptions from the responses already in this workspace (``filters`` such as
        ``since`` or ``where`` select which).
    level : float
        Confidence level (margin) or 1 - significance level (difference).
    power : float
        Power to detect ``difference``.

    Examples
    --------
    >>> sample_size("nps", margin=5).n
    1534
    """
    if (margin is None) == (difference is None):
        raise MetricError("give either margin= or difference=")
    target = margin if margin is not None else difference
    assert target is not None
    if target <= 0:
        raise MetricError("the margin or difference must be positive")
    if not 0 < power < 1:
        raise MetricError(f"power must be between 0 and 1 (exclusive), not {power:g}")
    variance, assumption = _variance(metric, promoters, detractors, satisfied, sd, ws, filters)
    unit = 1.0 if metric == "ces" else 100.0
    e = target / unit
    z = intervals.z_value(level)
    pseudo = 3 if metric == "nps" else 0
    if margin is not None:
        n = z**2 * variance / e**2 - pseudo
        goal = "margin"
        text = f"±{target:g} points at {level:.0%} confidence"
    else:
        zb = intervals.normal_quantile(power)
        n = (z + zb) ** 2 * 2 * variance / e**2 - pseudo
        goal = "difference"
        text = f"a change of {target:g} points (two-sided, α = {1 - level:.2g}, power {power:.0%})"
    needed = max(1, math.ceil(n))
    per = " per sample" if goal == "difference" else ""
    explanation = (
        f"{metric.upper()}: {needed:,} responses{per} are needed for {text}, assuming {assumption}."
    )
    frame = pd.DataFrame(
        [
            {
                "metric": metric,
                "goal": goal,
                "target": target,
                "variance": variance,
                "assumption": assumption,
                "n": needed,
            }
        ]
    )
    return SampleSizePlan(frame=frame, explanation=explanation)


def _variance(
    metric: str,
    promoters: float | None,
    detractors: float | None,
    satisfied: float | None,
    sd: float | None,
    ws: Workspace | None,
    filters: dict[str, Any],
) -> tuple[float, str]:
    observed = None
    if ws is not None:
        result = measure(ws, metric, **filters).frame
        if len(result) and result["n"].iloc[0] > 0:
            observed = result.iloc[0]
    if metric == "nps":
        if promoters is None and detractors is None and observed is not None:
            promoters, detractors = observed["promoters"], observed["detractors"]
            source = f"the {int(observed['n']):,} responses in the workspace"
        elif promoters is None and detractors is None:
            promoters, detractors, source = 50.0, 50.0, "the worst case"
        else:
            source = "the shares given"
        p, d = (promoters or 0.0) / 100, (detractors or 0.0) / 100
        if p < 0 or d < 0 or p + d > 1:
            raise MetricError("promoters and detractors are percentages summing to at most 100")
        return p + d - (p - d) ** 2, f"{p:.0%} promoters and {d:.0%} detractors ({source})"
    if metric == "csat":
        if satisfied is None and observed is not None:
            satisfied, source = observed["estimate"], "the workspace's responses"
        elif satisfied is None:
            satisfied, source = 50.0, "the worst case"
        else:
            source = "the share given"
        p = satisfied / 100
        if not 0 <= p <= 1:
            raise MetricError("satisfied is a percentage between 0 and 100")
        return p * (1 - p), f"{p:.0%} satisfied ({source})"
    if metric == "ces":
        if sd is None and observed is not None:
            sd = float(observed["se"] * math.sqrt(observed["n_eff"]))
            source = "the workspace's responses"
        elif sd is None:
            sd, source = _DEFAULT_CES_SD, "a typical value"
        else:
            source = "the value given"
        return sd**2, f"a standard deviation of {sd:.2f} ({source})"
    raise MetricError(f"unknown metric {metric!r}; expected nps, csat or ces")
