"""Non-response: who answers the survey, who does not, and what the score would be with everyone.

rox knows every customer's value, not only the respondents'. The base is the customers who could
have answered: by default those with a purchase (``base="buyers"``: a relationship survey reaches
customers, not prospects), or every customer (``base="all"``). For a metric (NPS by default), a
customer of the base is a respondent if they ever answered it (their group in the experience
profile, :func:`rox.impact.profile`, is not ``no response``). Computed in the engine, only
per-cell counts come back:

``frame``
    Respondents against non-respondents: customers, mean recency (days from the last purchase to
    the profile's ``as_of``; customers without a purchase left out of the mean), frequency
    (purchases), monetary (spend to date) and CLV.
``composition``
    For each margin (``segment``, ``region``, ``value_band``: the customers' CLV quartile over the
    whole base), each level's share of the base and of the respondents.

Weights bring the respondents back to the base:

``raking``
    Iterative proportional fitting (Deming & Stephan 1940): starting from 1 per respondent, the
    weights of the cells (the margins crossed) are scaled in turn so that each margin's weighted
    respondent counts equal the base's customer counts, until no factor moves by more than
    ``tol``. A level of the base with customers but no respondent cannot be reached: that is an
    error, naming it (merge or drop the margin).
``propensity``
    Each cell's response propensity from a logistic regression of responding on the margins'
    levels (main effects, fitted by Newton-Raphson on the cells' counts: a binomial GLM), and
    respondents weighted by its inverse (Little 1986, weighting-class adjustment when saturated).

The score is then computed over the respondents' latest answers, unweighted and weighted; the
**bias** is unweighted minus weighted (positive: the respondents flatter the base). The weighted
score's interval uses Kish's effective sample size ``n / deff``, ``deff = n sum(w^2) /
(sum w)^2``. Weighting removes the bias that the margins explain, and none that they do not
(missing at random given the margins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis
import numpy as np
import pandas as pd

from rox._stats import z_value
from rox.errors import ConvergenceError, MetricError
from rox.experience.intervals import nps_variance
from rox.impact.profile import NO_RESPONSE, ExperienceProfile, profile
from rox.results import Result

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["NonResponse", "nonresponse", "propensity_weights", "rake"]

Method = Literal["raking", "propensity"]

#: Per metric: the profile's group column, and its top and bottom groups.
_GROUPS: dict[str, tuple[str, str, str | None]] = {
    "nps": ("nps_group", "promoter", "detractor"),
    "csat": ("csat_band", "satisfied", None),
    "ces": ("ces_band", "easy", None),
}
VALUE_BAND = "value_band"


@dataclass(frozen=True, eq=False)
class NonResponse(Result):
    """Respondents against non-respondents, and the score unweighted and weighted.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``group`` (respondents, non-respondents), ``customers``, ``recency_days``, ``frequency``,
        ``monetary``, ``clv``.
    composition : pandas.DataFrame
        ``margin``, ``level``, ``base_share``, ``respondent_share``, ``weighted_share``.
    cells : pandas.DataFrame
        The margins crossed: ``customers``, ``respondents``, ``top``, ``bottom``, ``weight`` (per
        respondent).
    metric, method : str
    margins : tuple of str
    unweighted, weighted, bias : float
        The score (NPS points, or % satisfied / easy) and unweighted minus weighted.
    unweighted_low, unweighted_high, weighted_low, weighted_high : float
    design_effect : float
        Kish's ``deff`` of the weights.
    response_rate : float
        Respondents among the base's customers.
    base : str
        ``"buyers"`` or ``"all"``.
    value_basis : str
        What ``clv`` is (a CLV with its horizon, or revenue to date).
    iterations : int
        Raking passes (or Newton steps) to converge.
    confidence : float
    """

    composition: pd.DataFrame = field(default_factory=pd.DataFrame)
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    metric: str = "nps"
    method: str = "raking"
    margins: tuple[str, ...] = ()
    unweighted: float = float("nan")
    weighted: float = float("nan")
    bias: float = float("nan")
    unweighted_low: float = float("nan")
    unweighted_high: float = float("nan")
    weighted_low: float = float("nan")
    weighted_high: float = float("nan")
    design_effect: float = float("nan")
    response_rate: float = float("nan")
    iterations: int = 0
    base: str = "buyers"
    value_basis: str = ""
    confidence: float = 0.95
    _respondents: Any = field(default=None, repr=False)

    _plotter: ClassVar[str | None] = None

    def weights(self) -> pd.Series:
        """Each respondent's weight, indexed by ``customer_id`` (text): its cell's weight.

        The respondents' weights add up to the base's customers (raking) or to their expected
        number (propensity); for :func:`rox.impact.rox_model`'s ``weights=``.

        Raises
        ------
        MetricError
            If the result was not computed here (no respondents to weight).
        """
        if self._respondents is None:
            raise MetricError("this result has no respondents to weight")
        f = self._respondents.execute()
        out = pd.Series(
            f["weight"].to_numpy(dtype="float64"),
            index=pd.Index(f["customer_id"].astype(str), name="customer_id"),
            name="weight",
        )
        return out.sort_index()

    def lines(self) -> list[str]:
        """The answer in plain words."""
        unit = " points" if self.metric == "nps" else "%"
        name = self.metric.upper()
        r = self.frame.set_index("group")
        return [
            f"{r.loc['respondents', 'customers']:,.0f} of the "
            f"{r['customers'].sum():,.0f} {'buying ' if self.base == 'buyers' else ''}customers "
            f"answered {name} ({self.response_rate:.0%}).",
            f"Respondents bought {r.loc['respondents', 'frequency']:.1f} times and spent "
            f"{r.loc['respondents', 'monetary']:,.0f} on average (worth "
            f"{r.loc['respondents', 'clv']:,.0f} in {self.value_basis}); non-respondents "
            f"{r.loc['non-respondents', 'frequency']:.1f} times, "
            f"{r.loc['non-respondents', 'monetary']:,.0f} (worth "
            f"{r.loc['non-respondents', 'clv']:,.0f}).",
            f"{name} unweighted: {self.unweighted:.1f} ({self.unweighted_low:.1f} to "
            f"{self.unweighted_high:.1f}); weighted by {self.method} to the customer base on "
            f"{', '.join(self.margins)}: {self.weighted:.1f} ({self.weighted_low:.1f} to "
            f"{self.weighted_high:.1f}; design effect {self.design_effect:.2f}).",
            f"Non-response bias: {self.bias:+.1f}{unit} (unweighted minus weighted; positive: "
            "the respondents flatter the base), assuming answers are missing at random given "
            "the margins.",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def rake(
    cells: pd.DataFrame,
    targets: Mapping[str, Mapping[Any, float]],
    *,
    count: str = "respondents",
    max_iter: int = 100,
    tol: float = 1e-10,
) -> tuple[pd.Series, int]:
    """Raking (iterative proportional fitting) of cell counts to margin totals.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per cell: a column per margin and ``count`` (respondents in the cell).
    targets : mapping
        Per margin, the total each level must reach.
    count : str
    max_iter, tol : int, float
        Passes over the margins at most, and the largest change of a factor (|factor - 1|) that
        counts as converged.

    Returns
    -------
    (pandas.Series, int)
        The weight per unit of ``count`` in each cell (aligned with ``cells``), and the passes.

    Raises
    ------
    MetricError
        A level with a target but no count (an empty cell of the margin), or totals that
        disagree between margins.
    ConvergenceError
        No convergence within ``max_iter`` passes.

    Examples
    --------
    >>> cells = pd.DataFrame({"s": ["a", "a", "b", "b"], "r": ["x", "y", "x", "y"],
    ...                       "respondents": [2, 1, 1, 4]})
    >>> w, _ = rake(cells, {"s": {"a": 10, "b": 10}, "r": {"x": 12, "y": 8}})
    >>> round(float((w * cells["respondents"]).iloc[0]), 4)  # the closed form gives 8.2661
    8.2661
    """
    n = cells[count].astype(float).to_numpy()
    totals = {m: float(sum(t.values())) for m, t in targets.items()}
    if len({round(v, 6) for v in totals.values()}) > 1:
        raise MetricError(f"the margins' totals differ ({totals}): they must count the same base")
    for margin, target in targets.items():
        if margin not in cells.columns:
            raise MetricError(f"no margin {margin!r} in the cells")
        have = cells.groupby(margin)[count].sum()
        for level, total in target.items():
            if total > 0 and have.get(level, 0) == 0:
                raise MetricError(
                    f"no respondent in {margin}={level} ({total:,.0f} customers): raking cannot "
                    f"reach it; merge the level with another or drop the margin {margin!r}"
                )
    w = np.ones(len(cells))
    for it in range(1, max_iter + 1):
        biggest = 0.0
        for margin, target in targets.items():
            level = cells[margin].to_numpy()
            for value, total in target.items():
                rows = level == value
                current = float(np.sum(w[rows] * n[rows]))
                if current == 0:
                    continue
                factor = total / current
                w[rows] *= factor
                biggest = max(biggest, abs(factor - 1))
        if biggest < tol:
            return pd.Series(w, index=cells.index), it
    raise ConvergenceError(
        f"raking did not converge in {max_iter} passes (largest factor change {biggest:.2g}); "
        "the margins may contradict each other through empty cells"
    )


def propensity_weights(
    cells: pd.DataFrame,
    margins: Sequence[str],
    *,
    count: str = "respondents",
    total: str = "customers",
    max_iter: int = 50,
    tol: float = 1e-10,
) -> tuple[pd.Series, pd.Series, int]:
    """Inverse response-propensity weights from a main-effects logistic fit on cell counts.

    The logistic regression of responding on each margin's levels (dummies, the first level of
    each the reference) is fitted by Newton-Raphson to the cells' binomial counts (``count`` of
    ``total``); a respondent's weight is ``1 / p`` of their cell.

    Returns
    -------
    (weights, propensity, iterations)
    """
    x = pd.get_dummies(cells[list(margins)].astype(str), drop_first=True, dtype=float)
    design = np.column_stack([np.ones(len(cells)), x.to_numpy()])
    y = cells[count].astype(float).to_numpy()
    m = cells[total].astype(float).to_numpy()
    if y.sum() == 0 or y.sum() == m.sum():
        raise MetricError("everyone or no one responded: no propensity to model")
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(y.sum() / (m.sum() - y.sum()))
    for it in range(1, max_iter + 1):
        p = 1 / (1 + np.exp(-(design @ beta)))
        score = design.T @ (y - m * p)
        info = (design * (m * p * (1 - p))[:, None]).T @ design
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise MetricError(
                "the response model is singular (a level without customers, or margins that "
                "duplicate each other)"
            ) from None
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            p = 1 / (1 + np.exp(-(design @ beta)))
            if np.any(p[y > 0] <= 0):
                raise MetricError("a cell with respondents has a response propensity of 0")
            return pd.Series(1 / p, index=cells.index), pd.Series(p, index=cells.index), it
    raise ConvergenceError(
        f"the response model did not converge in {max_iter} Newton steps (a level where everyone "
        "or no one answered separates it: merge it or drop the margin)"
    )


def nonresponse(
    ws: Workspace | ExperienceProfile,
    *,
    metric: str = "nps",
    method: Method = "raking",
    margins: Sequence[str] = ("segment", "region", VALUE_BAND),
    bands: int = 4,
    base: Literal["buyers", "all"] = "buyers",
    confidence: float = 0.95,
    max_iter: int = 100,
    **options: Any,
) -> NonResponse:
    """Compare respondents with non-respondents and weight respondents back to the customer base.

    Parameters
    ----------
    ws : Workspace or ExperienceProfile
    metric : {'nps', 'csat', 'ces'}
    method : {'raking', 'propensity'}
    margins : sequence of str
        Columns of customers (``segment``, ``region``, ...) and ``value_band`` (the CLV band).
    bands : int
        Value bands (quantiles of CLV over the base; ties merge bands).
    base : {'buyers', 'all'}
        The customers who could have answered: those with a purchase, or everyone.
    confidence : float
    max_iter : int
        Raking passes or Newton steps at most.
    **options
        :func:`rox.impact.profile`'s options, with a workspace (``value=``, ...).

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> result = rox.impact.nonresponse(ws, value="revenue")
    >>> result.method, result.margins
    ('raking', ('segment', 'region', 'value_band'))
    """
    if metric not in _GROUPS:
        raise MetricError(f"metric={metric!r}: expected one of {', '.join(_GROUPS)}")
    if method not in ("raking", "propensity"):
        raise MetricError(f"method={method!r}: expected 'raking' or 'propensity'")
    if not 0 < confidence < 1:
        raise MetricError(f"confidence={confidence}: expected a level between 0 and 1")
    if not margins:
        raise MetricError("give at least one margin to weight on")
    if base not in ("buyers", "all"):
        raise MetricError(f"base={base!r}: expected 'buyers' or 'all'")
    if bands < 1:
        raise MetricError(f"bands={bands}: expected at least 1")
    if isinstance(ws, ExperienceProfile) and options:
        raise MetricError("pass the profile's options to profile(), not here, with a profile")
    p = ws if isinstance(ws, ExperienceProfile) else profile(ws, **options)
    margins = tuple(margins)
    unknown = [m for m in margins if m != VALUE_BAND and m not in p.attributes]
    if unknown:
        raise MetricError(
            f"cannot weight on {', '.join(map(repr, unknown))}: expected {VALUE_BAND!r} or a "
            f"column of customers ({', '.join(p.attributes) or 'none'})"
        )
    column, top, bottom = _GROUPS[metric]
    t = p.table
    if base == "buyers":
        t = t.filter(t.purchases > 0)
    t = t.mutate(_responded=t[column] != NO_RESPONSE)
    if VALUE_BAND in margins:
        t = t.mutate(**{VALUE_BAND: _value_band(t, bands)})
    t = _with_recency(t, p)
    frame = _compare(t)
    keys = [t[m].cast("string").fill_null("(none)").name(m) for m in margins]
    g = t.group_by(keys).aggregate(
        customers=t.count(),
        respondents=t.count(where=t._responded),
        top=t.count(where=t[column] == top),
        bottom=t.count(where=t[column] == bottom) if bottom else ibis.literal(0, "int64"),
    )
    cells = g.execute().sort_values(list(margins)).reset_index(drop=True)
    for c in ("customers", "respondents", "top", "bottom"):
        cells[c] = pd.to_numeric(cells[c]).fillna(0).astype("int64")
    n = int(cells["respondents"].sum())
    if n == 0:
        raise MetricError(f"no customer answered {metric}: nothing to weight")
    if method == "raking":
        targets = {m: cells.groupby(m)["customers"].sum().to_dict() for m in margins}
        weights, iterations = rake(cells, targets, max_iter=max_iter)
    else:
        weights, _, iterations = propensity_weights(cells, margins, max_iter=max_iter)
    weights = weights.where(cells["respondents"] > 0, 0.0)
    cells["weight"] = weights
    scale = 100.0
    r, tp, bt = (cells[c].astype(float) for c in ("respondents", "top", "bottom"))
    u_top, u_bottom = tp.sum() / n, bt.sum() / n
    sw = float((weights * r).sum())
    w_top, w_bottom = float((weights * tp).sum()) / sw, float((weights * bt).sum()) / sw
    deff = n * float((weights**2 * r).sum()) / sw**2
    z = z_value(confidence)

    def interval(p_: float, d_: float, size: float) -> tuple[float, float, float]:
        var = float(nps_variance(p_, d_)) if bottom else p_ * (1 - p_)
        est = p_ - d_ if bottom else p_
        se = np.sqrt(var / size)
        return scale * est, scale * (est - z * se), scale * (est + z * se)

    unweighted, u_low, u_high = interval(u_top, u_bottom, n)
    weighted, w_low, w_high = interval(w_top, w_bottom, n / deff)
    composition = _composition(cells, margins)
    # each respondent's weight, joined in the engine when asked for (NonResponse.weights)
    keyed = t.filter(t._responded).select(
        customer_id=t.customer_id.cast("string"),
        **{m: t[m].cast("string").fill_null("(none)") for m in margins},
    )
    by_cell = ibis.memtable(cells[[*margins, "weight"]].astype(dict.fromkeys(margins, str)))
    respondents = keyed.join(by_cell, list(margins)).select("customer_id", "weight")
    return NonResponse(
        frame=frame,
        composition=composition,
        cells=cells,
        metric=metric,
        method=method,
        margins=margins,
        unweighted=unweighted,
        weighted=weighted,
        bias=unweighted - weighted,
        unweighted_low=u_low,
        unweighted_high=u_high,
        weighted_low=w_low,
        weighted_high=w_high,
        design_effect=deff,
        response_rate=n / float(cells["customers"].sum()),
        iterations=iterations,
        base=base,
        value_basis=p.value_basis,
        confidence=confidence,
        _respondents=respondents,
    )


def _value_band(t: ir.Table, bands: int) -> ir.Value:
    """``V1`` (lowest CLV) to ``V<bands>``: quantiles of CLV over every customer."""
    qs = [k / bands for k in range(1, bands)]
    if not qs:
        return ibis.literal("V1")
    got = t.aggregate(**{f"q{k}": t.clv.quantile(q) for k, q in enumerate(qs)}).execute()
    cuts = sorted({float(got[f"q{k}"].iloc[0]) for k in range(len(qs))})
    cases = [(t.clv <= c, f"V{k + 1}") for k, c in enumerate(cuts)]
    return ibis.cases(*cases, else_=f"V{len(cuts) + 1}")


def _with_recency(t: ir.Table, p: ExperienceProfile) -> ir.Table:
    """The profile with ``recency_days``: days from the last purchase to ``as_of`` (or null)."""
    tx = p.workspace.table("transactions")
    last = tx.group_by(tx.customer_id.cast("string").name("customer_id")).aggregate(
        _last=tx.ts.max().date()
    )
    end = ibis.literal(pd.Timestamp(p.as_of).tz_localize(None).date())
    j = t.left_join(last, t.customer_id == last.customer_id)
    j = j.select(t, last._last)
    return j.mutate(recency_days=end.delta(j._last, unit="day")).drop("_last")


def _compare(t: ir.Table) -> pd.DataFrame:
    out = t.group_by("_responded").aggregate(
        customers=t.count(),
        recency_days=t.recency_days.mean(),
        frequency=t.purchases.mean(),
        monetary=t.spend.mean(),
        clv=t.clv.mean(),
    )
    f = out.execute()
    f["group"] = np.where(f["_responded"].astype(bool), "respondents", "non-respondents")
    f = f.set_index("group").reindex(["respondents", "non-respondents"]).reset_index()
    f["customers"] = pd.to_numeric(f["customers"]).fillna(0).astype("int64")
    return f[["group", "customers", "recency_days", "frequency", "monetary", "clv"]]


def _composition(cells: pd.DataFrame, margins: Sequence[str]) -> pd.DataFrame:
    rows = []
    wr = cells["weight"] * cells["respondents"]
    for m in margins:
        g = cells.assign(_wr=wr).groupby(m)[["customers", "respondents", "_wr"]].sum()
        for level, r in g.iterrows():
            rows.append(
                {
                    "margin": m,
                    "level": level,
                    "base_share": r["customers"] / g["customers"].sum(),
                    "respondent_share": r["respondents"] / g["respondents"].sum(),
                    "weighted_share": r["_wr"] / g["_wr"].sum(),
                }
            )
    return pd.DataFrame(rows)
