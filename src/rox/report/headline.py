"""The headline of a workspace: the experience figures, where experience is worst, what changed.

Computation only (a :class:`Headline` result); :mod:`rox.report.workspace_report` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from rox.errors import MetricError
from rox.experience import compare, measure
from rox.results import Result
from rox.schema import METRICS

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["Headline", "format_value", "headline"]

_FORMAT = {"nps": "{:+.1f}", "csat": "{:.1f}%", "ces": "{:.2f}"}
NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
#: Breakdown used to find where experience is worst.
TOUCHPOINT = "touchpoint"


@dataclass(frozen=True, eq=False)
class Headline(Result):
    """Headline figures and what they say.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per metric with responses: ``metric``, ``n``, ``estimate``, ``ci_low``,
        ``ci_high``, ``worst_touchpoint`` and ``change`` (last six months vs the six before).
    findings : tuple of str
        The headline in plain words, most important first.
    """

    findings: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join(self.findings)


def format_value(metric: str, value: float) -> str:
    """A metric's value as people read it: NPS +32.7, CSAT 78.1%, CES 5.12."""
    return _FORMAT[metric].format(value)


def headline(ws: Workspace) -> Headline:
    """Compute the headline of ``ws``: each metric with its interval, worst touchpoint, change.

    The change compares the last six months of responses with the six months before them, with
    the tests of :func:`rox.experience.compare`.
    """
    rows, findings = [], []
    last = ws.table("responses").ts.max().execute()
    for metric in METRICS:
        overall = measure(ws, metric).frame
        if overall.empty:
            continue
        o = overall.iloc[0]
        row = {
            "metric": metric,
            "n": int(o["n"]),
            "estimate": o["estimate"],
            "ci_low": o["ci_low"],
            "ci_high": o["ci_high"],
            "worst_touchpoint": None,
            "change": None,
        }
        findings.append(
            f"{NAMES[metric]} is {format_value(metric, o['estimate'])} "
            f"(95% interval {format_value(metric, o['ci_low'])} to "
            f"{format_value(metric, o['ci_high'])}; {int(o['n']):,} responses)."
        )
        if TOUCHPOINT in ws.table("responses").columns:
            worst = _worst_touchpoint(ws, metric)
            if worst is not None:
                row["worst_touchpoint"] = worst["b"]
                findings.append(worst["verdict"])
        if last is not None and not pd.isna(last):
            change = _last_change(ws, metric, pd.Timestamp(last))
            if change is not None:
                row["change"] = change["difference"]
                findings.append(change["verdict"])
        rows.append(row)
    if not rows:
        findings.append("No survey responses yet: load some with `rox ingest responses FILE`.")
    if ws.count("events"):
        from rox.impact import audit

        findings.extend(audit(ws).findings[:2])
    frame = pd.DataFrame(
        rows, columns=["metric", "n", "estimate", "ci_low", "ci_high", "worst_touchpoint", "change"]
    )
    return Headline(frame=frame, findings=tuple(findings))


def _worst_touchpoint(ws: Workspace, metric: str) -> pd.Series | None:
    """The touchpoint significantly furthest below the others, if any."""
    try:
        result = compare(ws, metric, by=TOUCHPOINT).frame
    except MetricError:  # no touchpoint recorded for this metric: nothing to rank
        return None
    # lower is worse for all three (CES 2.0: 7 = "strongly agree it was easy")
    bad = result[result["significant"] & (result["difference"] < 0)]
    if bad.empty:
        return None
    return bad.sort_values("difference").iloc[0]


def _last_change(ws: Workspace, metric: str, last: pd.Timestamp) -> pd.Series | None:
    end = (last.tz_convert(None) if last.tzinfo else last).normalize() + pd.Timedelta(days=1)
    middle = end - pd.DateOffset(months=6)
    start = middle - pd.DateOffset(months=6)
    a = (start, middle, f"the six months to {middle:%Y-%m-%d}")
    b = (middle, end, f"the last six months (to {end:%Y-%m-%d})")
    result = compare(ws, metric, periods=[a, b]).frame
    if result.empty or result["n_a"].iloc[0] == 0:
        return None
    return result.iloc[0]
