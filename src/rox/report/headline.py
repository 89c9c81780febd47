"""The headline of a workspace: the money, the experience figures, the worst place, the change.

Computation only (a :class:`Headline` result); :mod:`rox.report.workspace_report` draws it. The
headline leads with the money: what moving every detractor to the passive level is worth through
the ROX model (:func:`rox.impact.rox_model`: with its parametric interval and its channels, over
:data:`HORIZON_YEARS` years), falling back to the difference in means of the NPS groups
(:func:`rox.impact.counterfactual`) with the reason stated where the model cannot be fitted (the
rule of :func:`rox.impact.roi`, :func:`rox.impact.roi.through_rox_model`); and the
promoter-to-detractor CLV multiple (:func:`rox.impact.worth`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pandas as pd

from rox._display import money
from rox.errors import ConvergenceError, MetricError
from rox.experience import compare, scorecard
from rox.results import Result
from rox.schema import METRICS

if TYPE_CHECKING:
    from rox.experience import Comparison, ExperienceResult
    from rox.impact import Counterfactual, ExperienceProfile, KeyDrivers, ROXModel, Worth
    from rox.journey import Audit
    from rox.value import CLV
    from rox.workspace import Workspace

__all__ = ["ExperienceWorth", "Headline", "experience_worth", "format_value", "headline"]

#: Bootstrap replicates of the report's intervals (worth, the ROX, the drivers).
REPLICATES = 500
#: Years over which the ROX model values moving the detractors (its default).
HORIZON_YEARS = 3.0
#: Names of the value models (as :func:`rox.impact.roi` gives them).
ROX_MODEL = "the ROX model"


@dataclass(frozen=True, eq=False)
class ExperienceWorth:
    """What experience is worth, for the report: CLV by NPS group, the ROX, drivers, friction.

    Attributes
    ----------
    worth : Worth
        Mean CLV by NPS group with intervals, and the ratios to detractors.
    rox : ROXModel or Counterfactual
        Every detractor moved to the passive level: through the ROX model, or the difference in
        means where the model cannot be fitted.
    value_model : str
        ``"the ROX model"`` or ``"the difference in means of the experience groups"``.
    fallback_reason : str
        Why the ROX model could not be used ("" when it was).
    drivers : KeyDrivers or None
        What drives NPS (None where it cannot be computed).
    drivers_reason : str
        Why the drivers could not be computed (:func:`rox.impact.key_drivers`' refusal, e.g. too
        few customers for ``min_n``); "" when they were.
    audit : Audit or None
        The priced audit of the journeys (None without events).
    currency : str or None
    """

    worth: Worth
    rox: ROXModel | Counterfactual
    value_model: str = ROX_MODEL
    fallback_reason: str = ""
    drivers: KeyDrivers | None = None
    drivers_reason: str = ""
    audit: Audit | None = None
    currency: str | None = None

    def _modelled(self) -> ROXModel | None:
        """The ROX model's fit, or None when the headline fell back to the difference in means."""
        from rox.impact import ROXModel

        return self.rox if isinstance(self.rox, ROXModel) else None

    def _over(self) -> str:
        """What the ROX is counted in: years of the model's value, or the profile's value."""
        fit = self._modelled()
        if fit is None:
            return f"in {self.rox.value_basis}"  # type: ignore[union-attr]
        return f"over {fit.horizon_years:g} years (the ROX model, {fit.label})"

    def _main_channel(self) -> str:
        """The largest channel of the ROX model ("; most of it from lower dropout"), or ""."""
        fit = self._modelled()
        if fit is None or not len(fit.frame) or not fit.total:
            return ""
        main = fit.frame.loc[fit.frame["rox"].abs().idxmax()]
        what = str(main["meaning"]).split(" (")[0]
        share = float(main["share"])
        return f"; most of it from {what}" if share > 0.5 else f"; {share:.0%} of it from {what}"

    def lead(self) -> str:
        """The money, in one sentence: the headline's first line."""
        r, cur = self.rox, self.currency
        line = (
            f"Moving every detractor to the passive level is worth about {money(r.total, cur)} "
            f"({money(r.low, cur)} to {money(r.high, cur)}) {self._over()}{self._main_channel()}"
        )
        multiple = self.multiple()
        if multiple is not None:
            ratio, low, high = multiple
            line += (
                f"; a promoter is worth {ratio:.1f}x a detractor ({low:.1f}x to {high:.1f}x, "
                "associational)"
            )
        elif self._modelled() is None:
            line += " (associational)"
        return line + "."

    def multiple(self) -> tuple[float, float, float] | None:
        """The promoter-to-detractor CLV multiple, or None without both groups."""
        try:
            return self.worth.multiple("promoter")
        except MetricError:
            return None

    def lines(self) -> tuple[str, ...]:
        """The section's findings, in plain words."""
        cur = self.currency
        w = self.worth.frame.set_index(self.worth.by)
        groups = [g for g in ("promoter", "passive", "detractor", "no response") if g in w.index]
        out = [
            f"Mean value per customer by NPS group, in {self.worth.value_basis} "
            f"({self.worth.confidence:.0%} intervals): "
            + "; ".join(
                f"{g} {money(w.loc[g, 'clv'], cur)} ({money(w.loc[g, 'clv_low'], cur)} to "
                f"{money(w.loc[g, 'clv_high'], cur)}; {int(w.loc[g, 'customers']):,} customers)"
                for g in groups
            )
            + "."
        ]
        multiple = self.multiple()
        if multiple is not None:
            out.append(
                f"The promoter-to-detractor multiple is {multiple[0]:.2f}x ({multiple[1]:.2f}x "
                f"to {multiple[2]:.2f}x): the figure Bain asks every firm to measure for itself."
            )
        r, fit = self.rox, self._modelled()
        if fit is not None:
            channels = "; ".join(
                f"{str(c.meaning).split(' (')[0]} {money(c.rox, cur)}"
                for c in fit.frame.itertuples()
            )
            out.append(
                f"Moving the {fit.moved:,} detractors who bought to the passive level is worth "
                f"about {money(r.total, cur)} ({r.confidence:.0%} interval {money(r.low, cur)} "
                f"to {money(r.high, cur)}) over {fit.horizon_years:g} years through the ROX "
                f"model (Pareto/NBD with the NPS groups as covariates, Gamma-Gamma spend by "
                f"group): {channels}; {fit.label}: an effect only if "
                + "; ".join(fit.assumptions)
                + "."
            )
        else:
            moved = int(r.frame.loc[r.frame["rox"].notna(), "moved"].sum())
            out.append(
                f"Moving the {moved:,} detractors to the passive level is worth about "
                f"{money(r.total, cur)} ({r.confidence:.0%} interval {money(r.low, cur)} to "
                f"{money(r.high, cur)}) in {r.value_basis}"  # type: ignore[union-attr]
                f", valued through {self.value_model}, not the ROX model, which could not be "
                f"fitted ({self.fallback_reason}); associational: an effect only if "
                + "; ".join(r.assumptions)
                + "."
            )
        if self.drivers is not None and len(self.drivers.frame):
            top = self.drivers.frame.head(3)
            out.append(
                "What drives NPS most (share of the explained variance, relative weights; "
                f"{self.drivers.label}: not the effect of changing a driver): "
                + "; ".join(f"{d.driver} {d.rw_pct:.0f}%" for d in top.itertuples())
                + "."
            )
        elif self.drivers_reason:
            out.append(
                f"note: what drives NPS could not be computed: {self.drivers_reason.rstrip('.')}."
            )
        if self.audit is not None:
            out.extend(
                line for line in self.audit.findings if line.startswith(("Cost:", "Removing the"))
            )
        return tuple(out)


def experience_worth(ws: Workspace) -> ExperienceWorth | None:
    """Compute what experience is worth in ``ws`` (None without transactions or NPS answers)."""
    if not ws.count("transactions") or not ws.count("responses"):
        return None
    from rox.impact import audit, counterfactual, key_drivers, profile, worth
    from rox.impact.roi import through_rox_model
    from rox.value import clv

    value: CLV | str
    try:
        value = clv(ws)
    except (ConvergenceError, ValueError):  # (a MetricError is a ValueError)
        value = "revenue"
    fallbacks: list[Counterfactual] = []

    def difference_in_means(
        p: ExperienceProfile, *, by: str, move: str, to: str
    ) -> tuple[float, float, float]:
        c = counterfactual(p, by=by, move=move, to=to, replicates=REPLICATES)
        fallbacks.append(c)
        return c.total, c.low, c.high

    try:
        p = profile(ws, value=value)
        by_group = worth(p, "nps_group", replicates=REPLICATES)
        valued = through_rox_model(
            lambda model: model(p, by="nps_group", move="detractor", to="passive"),
            p,
            horizon_years=HORIZON_YEARS,
            fallback=difference_in_means,
        )
    except (ConvergenceError, MetricError):
        return None
    move: ROXModel | Counterfactual = (
        fallbacks[-1] if valued.reason else next(iter(valued.model.fits.values()))
    )
    if move.total != move.total:  # no detractor or no passive: nothing to move
        return None
    drivers: KeyDrivers | None = None
    drivers_reason = ""
    try:
        drivers = key_drivers(ws, n_boot=REPLICATES // 2)
    except (ConvergenceError, MetricError) as exc:
        drivers_reason = str(exc)
    checked: Audit | None = None
    if ws.count("events"):
        try:
            checked = audit(ws, value=value)
        except MetricError:
            checked = None
    return ExperienceWorth(
        worth=by_group,
        rox=move,
        value_model=valued.value_model,
        fallback_reason=valued.reason,
        drivers=drivers,
        drivers_reason=drivers_reason,
        audit=checked,
        currency=ws.currency,
    )


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
        The headline in plain words, most important first (the money first).
    worth : ExperienceWorth or None
        What experience is worth (None without transactions and NPS answers).
    touchpoints : dict of str to Comparison
        Each metric's touchpoints compared with the rest (:func:`rox.experience.compare`), as
        the worst touchpoint was found from them; the report's metric sections show them.
    cards : dict
        Scorecards (:func:`rox.experience.scorecard`, the three metrics from one scan) by
        ``(by, period)``, made as the report's metric sections ask for them, so that the three
        sections share one scan per breakdown (:func:`card`).
    """

    findings: tuple[str, ...] = ()
    worth: ExperienceWorth | None = None
    touchpoints: dict[str, Comparison] = field(default_factory=dict)
    cards: dict[tuple[str | None, str | None], dict[str, ExperienceResult]] = field(
        default_factory=dict, repr=False
    )

    def card(
        self, ws: Workspace, by: str | None = None, period: str | None = None
    ) -> dict[str, ExperienceResult]:
        """The scorecard of ``ws`` by ``by`` and ``period``, made once for this headline."""
        key = (by, period)
        if key not in self.cards:
            self.cards[key] = scorecard(ws, by, period)
        return self.cards[key]

    def __str__(self) -> str:
        return "\n".join(self.findings)


def format_value(metric: str, value: float) -> str:
    """A metric's value as people read it: NPS +32.7, CSAT 78.1%, CES 5.12."""
    return _FORMAT[metric].format(value)


def headline(
    ws: Workspace,
    *,
    worth: ExperienceWorth | Literal["compute"] | None = "compute",
    audit: Audit | Literal["compute"] | None = "compute",
) -> Headline:
    """Compute the headline of ``ws``: the money, each metric, worst touchpoint, change.

    It leads with what experience is worth (:func:`experience_worth`) where there are
    transactions and NPS answers. The change compares the last six months of responses with the
    six months before them, with the tests of :func:`rox.experience.compare`.

    Parameters
    ----------
    ws : Workspace
    worth : ExperienceWorth or None, optional
        What experience is worth, computed already (None: leave the money out); by default
        computed here. The live dashboard computes it apart, as it takes long
        (:mod:`rox.service.dashboard`).
    audit : Audit or None, optional
        The journeys' audit (:func:`rox.journey.audit`) whose first two findings end the
        headline where ``worth`` carries no priced audit (None: leave them out); by default
        computed here where there are events.
    """
    rows, findings = [], []
    if worth == "compute":
        worth = experience_worth(ws)
    if worth is not None:
        findings.append(worth.lead())
    last = ws.table("responses").ts.max().execute()
    card = scorecard(ws)  # (the three metrics from one scan)
    touchpoints: dict[str, Comparison] = {}
    for metric in METRICS:
        overall = card[metric].frame
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
            worst = _worst_touchpoint(ws, metric, touchpoints)
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
    checked: Audit | None = worth.audit if worth is not None else None
    if checked is None and audit == "compute" and ws.count("events"):
        from rox.journey import audit as journey_audit

        checked = journey_audit(ws)
    elif checked is None and audit != "compute":
        checked = audit
    if checked is not None:
        findings.extend(checked.findings[:2])
    frame = pd.DataFrame(
        rows, columns=["metric", "n", "estimate", "ci_low", "ci_high", "worst_touchpoint", "change"]
    )
    return Headline(frame=frame, findings=tuple(findings), worth=worth, touchpoints=touchpoints)


def _worst_touchpoint(ws: Workspace, metric: str, kept: dict[str, Comparison]) -> pd.Series | None:
    """The touchpoint significantly furthest below the others, if any (the comparison kept)."""
    try:
        tested = compare(ws, metric, by=TOUCHPOINT)
    except MetricError:  # no touchpoint recorded for this metric: nothing to rank
        return None
    kept[metric] = tested
    result = tested.frame
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
