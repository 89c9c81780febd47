"""Key drivers: which touchpoints and customer attributes drive NPS, satisfaction or churn.

What the data are
-----------------
One row per customer who has the outcome and at least one driver:

- **outcome** (``outcome=``):

  ``nps``
      the customer's mean NPS answer (0-10), all NPS responses;
  ``csat``
      the customer's mean CSAT answer over every touchpoint (its drivers cannot be CSAT scores,
      which make it up; by default they are the CES touchpoints);
  ``detractor``
      1 when the customer's mean NPS answer is at or below the scale's detractor cut-off (6 on
      0-10), else 0 (binary);
  ``churn``
      1 when the customer's last transaction is more than ``inactive_after`` days before the last
      transaction in the workspace (the definition of :func:`rox.value.survival`), else 0; only
      customers with transactions (binary).

- **drivers** (``drivers=``): ``"metric:touchpoint"`` is the customer's mean answer of that metric
  at that touchpoint (``"csat:financing"``, ``"ces:support_call"``), from ``responses``; any other
  name is a column of ``customers`` (numeric and boolean columns as they are; a text column becomes
  one 0/1 indicator per value, except its most frequent value, the reference, named
  ``"segment=fleet"``). By default, every touchpoint with answers of ``driver_metric`` (CSAT, or CES
  for the ``csat`` outcome).
- **themes** (``themes=``, #18): ``"theme:<label>"`` is 1 when the customer mentions the theme in
  any comment, 0 when the customer answered some survey without mentioning it, and missing for
  customers with no answer at all. The themes come from :func:`rox.voice.analyse` (``themes=True``,
  or an analysed :class:`rox.voice.Comments` / :class:`rox.voice.ThemeTable`, e.g. with keyword
  rules) or from a frame of mentions (``customer_id``, ``theme``: a customer's own tags). Themes
  are matched by label, so themes of two languages that share a label (keyword rules give one label
  in every language) are one driver. Every theme joins the drivers, unless ``drivers=`` names
  themes, which are then the only ones; a theme joined unnamed is left out (and listed in
  ``themes_left_out`` with the reason) when fewer than ``min_mentions`` of the customers analysed
  mention it, when it is the same for every customer who has another variable (pairwise, its
  correlation with that variable is undefined), or when it is the reference: if every customer
  mentions exactly one theme (one comment each, and every comment has a theme), the indicators
  add up to 1 and the most mentioned is left out, as a text column's most frequent value is.
  Leaving themes out costs one more scan.

Missing driver values (``missing=``): ``"complete"`` keeps the customers who have every driver and
reports how many were dropped (``n_dropped``); ``"pairwise"`` computes each correlation from the
customers who have both variables (``pandas.DataFrame.corr``'s rule). Touchpoint surveys are sparse
(a customer answers at a few touchpoints, not all: on the demo brand no customer answers at every
CSAT touchpoint), so ``pairwise`` is the default for ``nps`` and ``csat``, at a price: each
correlation rests on different customers, the matrix may not be positive definite (then an error
says so), and ``n`` differs by pair. Every correlation must rest on at least ``min_n`` customers.
The binary outcomes need complete cases (a logistic regression is fitted on rows), their default.

How it is computed
------------------
The engine builds the per-customer table (one group-by over ``responses``, joins for churn and
attributes) and returns, per block of customers, the count, sums, sums of squares and cross-product
sums of the outcome and drivers (for ``pairwise``, each restricted to the customers having both):
one scan, whatever the number of responses. The correlation matrix, Johnson's relative weights and
the Shapley decomposition of R**2 over all ``2**p`` subsets (LMG) are computed from those few
numbers (:mod:`rox.impact._importance`); both sets of importances sum to the explained R**2.

A theme driver is built from the small table of (customer, theme) mentions: the comments are
read and analysed in Python by :mod:`rox.voice` (text analysis is the one analysis that does not
run in the engine); the mentions go to the engine as one in-memory table of the customers who
mention a theme, joined to the per-customer table there.

For a binary outcome, the logistic regression is fitted by Newton-Raphson in the engine (one
aggregation of the score and information per iteration), and the relative weights follow
Tonidandel & LeBreton (2010), as ``rwa::rwa_logit``; they sum to the squared correlation of the
outcome with the fitted probability. There is no LMG column for binary outcomes.

Bootstrap intervals without re-scanning rows
--------------------------------------------
The customers analysed (with ``complete``, those with every driver; with ``pairwise``, those with
the outcome and some driver) are dealt into ``blocks`` blocks in turn (``row_number() over (order by
customer_id) mod blocks``, the same on every engine), and the sufficient statistics come back per
block. A bootstrap replicate resamples blocks with replacement (multinomial counts over the blocks)
and adds up their statistics, so ``n_boot`` replicates cost ``n_boot x blocks`` additions in numpy
and no query. The blocks are independent groups of customers, so this is the customer (cluster)
bootstrap with the block as the unit; with as many blocks as customers (the default when there are
at most ``blocks`` customers) it is exactly the nonparametric bootstrap over customers. For the
logistic variant, each replicate takes one Newton step from the full-data fit on its resampled score
and information (the estimating-function bootstrap of Hu & Kalbfleisch 2000), and the fitted
probabilities stay at the full-data fit. Intervals are percentile intervals at ``level``.

References
----------
Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor
variables in multiple regression. *Multivariate Behavioral Research*, 35(1), 1-19.
Lindeman, R. H., Merenda, P. F., & Gold, R. Z. (1980). *Introduction to Bivariate and
Multivariate Analysis*. Scott, Foresman. Groemping, U. (2006). *J. Statistical Software*, 17(1).
Tonidandel, S., & LeBreton, J. M. (2010). *Organizational Research Methods*, 13(4), 767-781.
Hu, F., & Kalbfleisch, J. D. (2000). The estimating function bootstrap. *Canadian Journal of
Statistics*, 28(3), 449-481.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import ibis
import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.impact import _importance as imp
from rox.impact._logistic import bootstrap_logistic, fit_logistic
from rox.results import Result

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir
    from numpy.typing import NDArray

    from rox.voice import Comments, ThemeTable
    from rox.workspace import Workspace

__all__ = ["LABEL", "MEANING", "OUTCOMES", "THEME_PREFIX", "KeyDrivers", "key_drivers"]

Outcome = Literal["nps", "csat", "detractor", "churn"]
#: The outcomes and whether each is binary.
OUTCOMES: dict[str, bool] = {"nps": False, "csat": False, "detractor": True, "churn": True}
#: What the importances are, as every figure of :mod:`rox.impact` is labelled: associational.
LABEL = "associational"
#: What that means for the drivers.
MEANING = (
    "importance in explaining the variance of the outcome across customers (how much a driver "
    "helps tell who scores what), not the causal effect of changing the driver"
)
#: How a driver names a theme of the comments: ``"theme:financing paperwork"``.
THEME_PREFIX = "theme:"
#: Where themes come from: ``True`` (analyse the comments), analysed comments, a theme table, or
#: a frame of mentions (``customer_id``, ``theme``).
ThemeSource: TypeAlias = "bool | Comments | ThemeTable | pd.DataFrame | None"


@dataclass(frozen=True)
class _Driver:
    name: str
    metric: str | None = None
    touchpoint: str | None = None
    column: str | None = None
    level: str | None = None
    theme: str | None = None

    @property
    def kind(self) -> str:
        """``score``, ``attribute`` or ``theme``."""
        return "score" if self.metric else "theme" if self.theme is not None else "attribute"

    def expr(self, r: ir.Table) -> ir.Value:
        return r.score.mean(where=(r.metric == self.metric) & (r.touchpoint == self.touchpoint))


@dataclass(frozen=True, eq=False)
class KeyDrivers(Result):
    """Importance of each driver for an outcome, with bootstrap intervals.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per driver, most important (relative weight) first: ``driver``, ``kind``
        (``score``, ``attribute`` or ``theme``), ``metric``, ``touchpoint`` (empty for attributes
        and themes), ``n`` (customers with the driver), ``performance``
        (mean of the driver, in its unit), ``performance_pct`` (that mean on 0-100 of the driver's
        observed range), ``correlation`` (with the outcome), ``rw``, ``rw_low``, ``rw_high``
        (Johnson's relative weight, a share of R**2, with its interval), ``rw_pct`` (percent of
        R**2), ``lmg``, ``lmg_low``, ``lmg_high``, ``lmg_pct`` (the same for LMG; empty for binary
        outcomes), ``rank_rw``, ``rank_lmg``, ``ranks_differ`` (the two methods rank the driver
        differently) and ``label`` (:data:`LABEL`, so that CSV and JSON carry it).
    outcome : str
    binary : bool
        True for ``detractor`` and ``churn`` (logistic relative weights).
    r2, r2_low, r2_high : float
        Explained variance (pseudo-R**2 for binary outcomes) and its interval.
    n_customers : int
        Customers in the analysis.
    n_dropped : int
        Customers with the outcome and some driver left out for a missing driver (``complete``).
    missing : str
    level : float
    n_boot : int
        Bootstrap replicates used: those whose correlation matrix is positive definite (a
        replicate of pairwise correlations can be indefinite; it is left out).
    blocks : int
        Blocks of customers the bootstrap resamples.
    themes_left_out : dict of str to str
        Themes offered unnamed (``themes=``) but left out, with the reason: mentioned by fewer
        than ``min_mentions`` of the customers analysed, or the same for every customer who has
        another variable (their correlation is undefined).
    label : str
        ``"associational"``: the importances are :data:`MEANING`. Observational answers cannot
        say what changing a driver would do (confounding, reverse causation, a halo over every
        answer of a customer).
    """

    outcome: str = "nps"
    binary: bool = False
    r2: float = float("nan")
    r2_low: float = float("nan")
    r2_high: float = float("nan")
    n_customers: int = 0
    n_dropped: int = 0
    missing: str = "complete"
    level: float = 0.95
    n_boot: int = 0
    blocks: int = 0
    themes_left_out: dict[str, str] = field(default_factory=dict)
    label: str = LABEL

    _plotter: ClassVar[str | None] = "rox.viz.drivers:plot_drivers"

    def __repr__(self) -> str:
        head = (
            f"KeyDrivers of {self.outcome}: R2 = {self.r2:.3f} "
            f"({self.level:.0%} interval {self.r2_low:.3f}-{self.r2_high:.3f}), "
            f"{self.n_customers:,} customers ({self.missing}, {self.n_dropped:,} dropped)"
        )
        cols = ["driver", "n", "performance", "rw", "rw_low", "rw_high", "rw_pct", "lmg"]
        table = self.frame[cols].to_string(index=False, max_rows=30)
        return f"{head}\n{self.caveat}\n{table}"

    @property
    def caveat(self) -> str:
        """The label in words: ``"Associational: importance in explaining ..."``."""
        return f"{self.label[0].upper()}{self.label[1:]}: {MEANING}."


def key_drivers(
    ws: Workspace,
    outcome: Outcome = "nps",
    *,
    drivers: Sequence[str] | None = None,
    driver_metric: str | None = None,
    attributes: Sequence[str] = (),
    themes: ThemeSource = None,
    min_mentions: int = 10,
    missing: Literal["complete", "pairwise"] | None = None,
    min_n: int = 30,
    inactive_after: int = 365,
    level: float = 0.95,
    n_boot: int = 500,
    blocks: int = 200,
    seed: int = 0,
) -> KeyDrivers:
    """Which touchpoints and attributes drive an outcome: relative weights and LMG, with intervals.

    Parameters
    ----------
    ws : Workspace
        Needs ``responses`` (and ``transactions`` for ``churn``, ``customers`` for attributes).
    outcome : {'nps', 'csat', 'detractor', 'churn'}
        What is explained (module docstring: one value per customer).
    drivers : sequence of str, optional
        ``"metric:touchpoint"`` scores and ``customers`` columns; default every touchpoint with
        answers of ``driver_metric``.
    driver_metric : {'csat', 'ces', 'nps'}, optional
        Metric of the default drivers: ``csat``, or ``ces`` for the ``csat`` outcome.
    attributes : sequence of str
        ``customers`` columns added to the drivers.
    themes : bool, rox.voice.Comments, rox.voice.ThemeTable or pandas.DataFrame, optional
        Themes of the comments as candidate drivers (module docstring): ``True`` analyses the
        workspace's comments with :func:`rox.voice.analyse`'s defaults; analysed comments (or a
        theme table) are used as they are; a frame needs ``customer_id`` and ``theme``, one row per
        mention. Without it, a driver named ``"theme:<label>"`` analyses the comments too.
    min_mentions : int
        Fewest customers analysed who mention a theme for it to join the drivers unnamed.
    missing : {'complete', 'pairwise'}, optional
        Missing-value policy (module docstring); default ``pairwise`` for ``nps`` and ``csat``,
        ``complete`` for the binary outcomes.
    min_n : int
        Fewest customers any correlation may rest on.
    inactive_after : int
        Days without a purchase after which a customer has churned (``churn`` only).
    level : float
        Confidence level of the percentile intervals, in (0, 1).
    n_boot : int
        Bootstrap replicates (0: no intervals).
    blocks : int
        Blocks of customers resampled by the bootstrap (module docstring).
    seed : int
        Seed of the bootstrap's random numbers (the result is reproducible).

    Returns
    -------
    KeyDrivers

    Raises
    ------
    MetricError
        Unknown outcome, driver, touchpoint, column or theme; too few customers; a driver without
        variation; collinear drivers; mixed answer scales; no theme that can be a driver.
    ConvergenceError
        The logistic regression of a binary outcome does not converge (separation).

    Examples
    --------
    >>> import rox.demo
    >>> from rox.impact import key_drivers
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=20_000, seed=7)
    >>> result = key_drivers(ws, "nps")  # every touchpoint's CSAT, pairwise
    >>> result.n_customers
    1859
    >>> bool(abs(result.to_frame()["lmg"].sum() - result.r2) < 1e-9)
    True
    """
    if outcome not in OUTCOMES:
        raise MetricError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    binary = OUTCOMES[outcome]
    if missing is None:
        missing = "complete" if binary else "pairwise"
    if missing not in ("complete", "pairwise"):
        raise MetricError(f"missing={missing!r}; expected 'complete' or 'pairwise'")
    if not 0 < level < 1:
        raise MetricError(f"level={level} must lie strictly between 0 and 1")
    if n_boot < 0 or blocks < 2 or min_n < 2 or min_mentions < 1:
        raise MetricError(
            f"n_boot={n_boot}, blocks={blocks}, min_n={min_n}, min_mentions={min_mentions}: "
            "expected n_boot >= 0, blocks >= 2, min_n >= 2 and min_mentions >= 1"
        )
    if binary and missing != "complete":
        raise MetricError(
            f"the {outcome} outcome is binary: its logistic regression needs complete cases "
            "(missing='complete')"
        )
    named_themes = [d for d in drivers or () if d.startswith(THEME_PREFIX)]
    mentions = None
    if (themes is not None and themes is not False) or named_themes:
        mentions = _theme_mentions(ws, True if themes is None else themes)
    specs = _resolve_drivers(ws, outcome, drivers, driver_metric, attributes)
    if mentions is not None:
        specs += _theme_drivers(mentions, named_themes, specs)
    if not specs:
        raise MetricError("no drivers: give drivers=, attributes= or themes=")
    left_out: dict[str, str] = {}
    while True:
        anyone = _customer_table(ws, outcome, specs, inactive_after, mentions)
        q = len(specs) + 1
        table = anyone if missing == "pairwise" else _complete_cases(anyone, q)
        table = table.mutate(_block=ibis.row_number().over(order_by=table.customer_id) % blocks)
        stats = _block_stats(table, q, missing == "pairwise")
        if mentions is None or named_themes or left_out:
            break
        # themes joined unnamed: leave out those too rare or constant beside another variable,
        # and count again without them (another scan, only then)
        left_out = _themes_to_leave_out(stats, specs, min_mentions)
        if not left_out:
            break
        specs = [s for s in specs if s.name not in left_out]
        if not specs:
            reasons = "; ".join(f"{k}: {v}" for k, v in left_out.items())
            raise MetricError(f"no theme can be a driver here ({reasons})")
    n_with_any = int(stats.pop("n_any").sum())
    if not len(stats["block"]):  # no complete case: count the customers with some driver
        n_with_any = int(anyone.count().execute())
    block_ids = stats.pop("block").astype(np.int64)
    n_used = int(stats["N"][:, 0, 0].sum())
    _check_counts(stats["N"].sum(axis=0), specs, min_n, n_used, n_with_any, missing, binary)
    total = {k: v.sum(axis=0) for k, v in stats.items() if k not in ("min", "max")}
    corr = imp.pair_correlations(total["N"], total["S"], total["Q"], total["P"])
    _check_corr(corr, specs, np.nanmin(stats["min"], axis=0) == np.nanmax(stats["max"], axis=0))
    weights_b = _bootstrap_weights(stats["N"].shape[0], n_boot, seed)

    if binary:
        # Newton-Raphson reads the per-customer table once per iteration: build it once.
        with table.cache() as cached:  # (complete cases only: a binary outcome needs them)
            logit = fit_logistic(cached, len(specs), total, block_ids)
        rw = imp.logistic_relative_weights(corr[1:, 1:], logit.coef_std, np.asarray(logit.r_yp))
        boot_rw = bootstrap_logistic(stats, logit, weights_b)
        lmg = np.full(len(specs), np.nan)
        boot_lmg = None
        r2 = float(logit.r_yp**2)
        boot_r2 = boot_rw.sum(axis=1)
    else:
        rw = imp.relative_weights(corr)
        lmg = imp.lmg(corr) if len(specs) <= imp.MAX_LMG_DRIVERS else np.full(len(specs), np.nan)
        boot_corr = imp.pair_correlations(
            *(np.einsum("bk,k...->b...", weights_b, stats[k]) for k in "NSQP")
        )
        boot_corr = boot_corr[imp.positive_definite(boot_corr)]
        boot_rw = imp.relative_weights(boot_corr) if len(boot_corr) else np.empty((0, len(specs)))
        boot_lmg = imp.lmg(boot_corr) if np.isfinite(lmg).all() and len(boot_corr) else None
        r2 = float(imp.r_squared(corr))
        boot_r2 = boot_rw.sum(axis=1)

    boot_rw = boot_rw[np.isfinite(boot_rw).all(axis=1)]
    frame = _frame(specs, total, stats, corr, rw, lmg, boot_rw, boot_lmg, level)
    lo, hi = _percentiles(boot_r2[np.isfinite(boot_r2)], level)
    return KeyDrivers(
        frame=frame,
        outcome=outcome,
        binary=binary,
        r2=r2,
        r2_low=lo,
        r2_high=hi,
        n_customers=n_used,
        n_dropped=n_with_any - n_used if missing == "complete" else 0,
        missing=missing,
        level=level,
        n_boot=len(boot_rw),
        blocks=int(stats["N"].shape[0]),
        themes_left_out=left_out,
    )


def _resolve_drivers(
    ws: Workspace,
    outcome: str,
    drivers: Sequence[str] | None,
    driver_metric: str | None,
    attributes: Sequence[str],
) -> list[_Driver]:
    r = ws.table("responses")
    r = r.filter(r.customer_id.notnull() & r.touchpoint.notnull())
    # (one scan: the distinct answers' metric, touchpoint and scale; the emptiness of the
    # responses is counted only when none comes back)
    seen = r.select("metric", "touchpoint", "scale").distinct().to_pyarrow().to_pandas()
    if seen.empty:
        ws.require_rows("responses")
    metric = driver_metric or ("ces" if outcome == "csat" else "csat")
    names = [d for d in drivers if not d.startswith(THEME_PREFIX)] if drivers is not None else []
    if drivers is None:
        tps = seen.loc[seen["metric"] == metric, "touchpoint"].drop_duplicates().sort_values()
        if tps.empty:
            raise MetricError(f"no {metric} answers carry a touchpoint; name the drivers")
        names = [f"{metric}:{tp}" for tp in tps]
    names += [a for a in attributes if a not in names]
    specs: list[_Driver] = []
    for name in names:
        if ":" in name:
            m, _, tp = name.partition(":")
            known = seen.loc[seen["metric"] == m, "touchpoint"]
            if tp not in set(known):
                raise MetricError(
                    f"driver {name!r}: no {m} answers at touchpoint {tp!r}; expected one of "
                    f"{', '.join(sorted(map(str, known))) or '(none)'}"
                )
            if outcome == "csat" and m == "csat":
                raise MetricError(
                    f"driver {name!r}: the csat outcome is the mean of the CSAT answers, so a "
                    "CSAT score cannot also be its driver; use CES scores or attributes"
                )
            specs.append(_Driver(name, metric=m, touchpoint=tp))
        else:
            specs.extend(_attribute_drivers(ws, name))
    used = {s.metric for s in specs if s.metric} | (
        {"nps"} if outcome in ("nps", "detractor") else {"csat"} if outcome == "csat" else set()
    )
    scales = seen[seen["metric"].isin(used)].groupby("metric")["scale"].nunique()
    mixed = scales[scales > 1]
    if not mixed.empty:
        raise MetricError(
            f"{mixed.index[0]} answers come on several scales; key drivers need one scale per "
            "metric (filter the responses, or rescale them at ingestion)"
        )
    if len({s.name for s in specs}) != len(specs):
        raise MetricError(f"a driver is named twice in {[s.name for s in specs]}")
    return specs


def _attribute_drivers(ws: Workspace, column: str) -> list[_Driver]:
    customers = ws.table("customers")
    usable = [c for c in customers.columns if c != "customer_id" and not c.startswith("_")]
    if column not in usable:
        raise MetricError(
            f"driver {column!r} is neither 'metric:touchpoint' nor a column of customers "
            f"(columns: {', '.join(usable)})"
        )
    dtype = customers.schema()[column]
    if dtype.is_numeric() or dtype.is_boolean():
        return [_Driver(column, column=column)]
    if not dtype.is_string():
        raise MetricError(f"customers.{column} is {dtype}; expected a number, boolean or text")
    counts = customers[column].value_counts().execute()
    counts = counts[counts[column].notna()].sort_values(
        [f"{column}_count", column], ascending=[False, True]
    )
    if len(counts) < 2:
        raise MetricError(f"customers.{column} has fewer than two values; it cannot drive anything")
    return [_Driver(f"{column}={v}", column=column, level=str(v)) for v in counts[column][1:]]


def _theme_mentions(ws: Workspace, themes: ThemeSource) -> pd.DataFrame:
    """The distinct (``customer_id``, ``theme``) mentions of a theme source (module docstring)."""
    from rox.voice import Comments, ThemeTable, analyse

    if themes is True:
        frame = analyse(ws).frame
    elif isinstance(themes, ThemeTable):
        if themes.comments is None:
            raise MetricError("the theme table carries no comments to find who mentions each theme")
        frame = themes.comments.frame
    elif isinstance(themes, Comments):
        frame = themes.frame
    elif isinstance(themes, pd.DataFrame):
        frame = themes
    else:
        raise MetricError(
            f"themes={themes!r}: expected True, rox.voice.Comments, rox.voice.ThemeTable or a "
            "DataFrame with customer_id and theme"
        )
    lacking = {"customer_id", "theme"} - set(frame.columns)
    if lacking:
        raise MetricError(
            f"the themes have no {', '.join(sorted(lacking))} column; expected one row per "
            "mention with customer_id and theme"
        )
    known = frame["customer_id"].notna() & frame["theme"].notna()
    mentions = frame.loc[known, ["customer_id", "theme"]].astype({"theme": str})
    return mentions.drop_duplicates().reset_index(drop=True)


def _theme_drivers(
    mentions: pd.DataFrame, named: Sequence[str], specs: list[_Driver]
) -> list[_Driver]:
    """Theme drivers: the ``named`` ones, else every theme, most mentioned first."""
    customers = mentions.groupby("theme")["customer_id"].nunique()
    if named:
        out: list[_Driver] = []
        for name in dict.fromkeys(named):
            label = name[len(THEME_PREFIX) :]
            if label not in customers.index:
                raise MetricError(
                    f"driver {name!r}: no comment has the theme {label!r}; the themes are: "
                    f"{', '.join(sorted(customers.index)) or '(none)'}"
                )
            out.append(_Driver(name, theme=label))
        return out
    if customers.empty:
        raise MetricError("no comment of a customer has a theme")
    taken = {s.name for s in specs}
    order = customers.reset_index().sort_values(["customer_id", "theme"], ascending=[False, True])
    return [
        _Driver(f"{THEME_PREFIX}{label}", theme=str(label))
        for label in order["theme"]
        if f"{THEME_PREFIX}{label}" not in taken
    ]


def _themes_to_leave_out(
    stats: dict[str, NDArray[np.float64]], specs: list[_Driver], min_mentions: int
) -> dict[str, str]:
    """Theme drivers to leave out, with the reason (see ``KeyDrivers.themes_left_out``).

    ``S[i, j]`` is the sum of variable ``i`` over the ``N[i, j]`` customers who have ``i`` and
    ``j`` (:func:`_block_stats`): for a 0/1 theme, the customers among them who mention it.
    """
    n, s, q, p = (stats[k].sum(axis=0) for k in "NSQP")
    names = ["the outcome", *(repr(d.name) for d in specs)]
    out: dict[str, str] = {}
    for i, spec in enumerate(specs, start=1):
        if spec.theme is None:
            continue
        mentioned = round(float(s[i, i]))
        if mentioned < min_mentions:
            out[spec.name] = (
                f"mentioned by {mentioned:,} of the customers analysed "
                f"(min_mentions={min_mentions})"
            )
            continue
        for j in range(len(names)):
            if j == i or n[i, j] == 0:
                continue
            if s[i, j] == 0 or s[i, j] == n[i, j]:
                who = "no customer" if s[i, j] == 0 else "every customer"
                out[spec.name] = f"{who} who has {names[j]} mentions it"
                break
    themed = [i for i, d in enumerate(specs, start=1) if d.theme is not None and d.name not in out]
    if len(themed) > 1:
        block = np.ix_(themed, themed)
        corr = imp.pair_correlations(n[block], s[block], q[block], p[block])
        if np.linalg.eigvalsh(corr)[0] <= 1e-8:
            # every customer mentions exactly one of them (one comment each, and every comment has
            # a theme): their indicators add up to 1, so one is the reference, as the most
            # frequent value of a text column is
            top = max(themed, key=lambda i: (s[i, i], -i))
            out[specs[top - 1].name] = (
                "the reference: every customer analysed mentions exactly one of the themes, so "
                "the most mentioned is left out"
            )
    return out


def _theme_table(r: ir.Table, specs: list[_Driver], mentions: pd.DataFrame) -> ir.Table | None:
    """Per customer who answered: ``v<i>`` of each theme driver, 1 (mentions it) or 0."""
    columns = {s.theme: f"v{i + 1}" for i, s in enumerate(specs) if s.theme is not None}
    if not columns:
        return None
    chosen = mentions[mentions["theme"].isin(list(columns))]
    wide = (
        pd.crosstab(chosen["customer_id"], chosen["theme"])
        .clip(upper=1)
        .reindex(columns=list(columns), fill_value=0)
        .rename(columns=columns)
        .astype("float64")
        .rename_axis(index="customer_id", columns=None)
        .reset_index()
    )
    wide["customer_id"] = wide["customer_id"].astype(str)
    mentioning = ibis.memtable(wide)
    mentioning = mentioning.mutate(customer_id=mentioning.customer_id.cast(r.customer_id.type()))
    answered = r.group_by("customer_id").aggregate(_answers=r.count())
    joined = answered.left_join(mentioning, "customer_id")
    return joined.select("customer_id", **{c: joined[c].fill_null(0.0) for c in columns.values()})


def _customer_table(
    ws: Workspace,
    outcome: str,
    specs: list[_Driver],
    inactive_after: int,
    mentions: pd.DataFrame | None = None,
) -> ir.Table:
    """Per customer: ``customer_id``, ``v0`` (outcome) and ``v1..vp`` (drivers).

    ``responses`` has rows: :func:`_resolve_drivers` checked it.
    """
    r = ws.table("responses")
    r = r.filter(r.customer_id.notnull())
    agg: dict[str, ir.Value] = {
        f"v{i + 1}": s.expr(r) for i, s in enumerate(specs) if s.metric is not None
    }
    if outcome in ("nps", "detractor"):
        agg["v0"] = r.score.mean(where=r.metric == "nps")
    elif outcome == "csat":
        agg["v0"] = r.score.mean(where=r.metric == "csat")
    per = r.group_by("customer_id").aggregate(**agg) if agg else None
    if outcome == "churn":
        t = ws.require_rows("transactions")
        end = pd.Timestamp(t.ts.max().execute())
        end_day = ibis.literal((end.tz_localize(None) if end.tzinfo else end).date())
        last = t.group_by("customer_id").aggregate(last=t.ts.max().date())
        lost = last.select(
            "customer_id",
            v0=_as_float(end_day.delta(last["last"], unit="day") > inactive_after),
        )
        per = lost if per is None else lost.inner_join(per, "customer_id")
    attrs = [s for s in specs if s.column is not None]
    if attrs:
        customers = ws.table("customers")
        cols = {}
        for s in attrs:
            i = specs.index(s) + 1
            c = customers[s.column]
            cols[f"v{i}"] = _as_float(c == s.level if s.level is not None else c)
        attr_table = customers.select("customer_id", **cols)
        assert per is not None  # the outcome always comes from responses or transactions
        per = per.left_join(attr_table, "customer_id").drop("customer_id_right")
    themed = None if mentions is None else _theme_table(r, specs, mentions)
    if themed is not None:
        assert per is not None
        per = per.left_join(themed, "customer_id").drop("customer_id_right")
    assert per is not None
    if outcome == "detractor":
        label = ws.table("responses").filter(lambda t: t.metric == "nps").scale.max().execute()
        cut = ws.scale("nps", label).bottom_to
        per = per.mutate(v0=_as_float(per.v0 <= cut))
    names = [f"v{i}" for i in range(len(specs) + 1)]
    per = per.select("customer_id", *[per[c].cast("float64") for c in names])
    per = per.filter(per.v0.notnull() & ibis.or_(*[per[c].notnull() for c in names[1:]]))
    return per


def _complete_cases(table: ir.Table, q: int) -> ir.Table:
    """The customers of ``table`` with the outcome and every driver (``v0`` .. ``v{q-1}``).

    ``_n_any`` is the number of rows of ``table`` (customers with the outcome and some driver), a
    window count taken before the filter, in the same query. Filtering before the blocks are dealt
    keeps the sort of the blocks' numbering to the complete cases (on many sparse drivers, a
    small share of the customers).
    """
    every = ibis.and_(*[table[f"v{i}"].notnull() for i in range(q)])
    return table.mutate(_n_any=table.v0.count().over()).filter(every)


def _as_float(value: ir.Value) -> ir.Value:
    """``value`` as float64; booleans through int32 (PostgreSQL casts no boolean to a double)."""
    if value.type().is_boolean():
        value = value.cast("int32")
    return value.cast("float64")


def _block_stats(table: ir.Table, q: int, pairwise: bool) -> dict[str, NDArray[np.float64]]:
    """Per block: pair counts and sums, each variable's min and max, customers before filtering.

    Returns the (q, q) matrices ``N``, ``S``, ``Q``, ``P`` of :func:`pair_correlations` per block,
    ``min`` and ``max`` per block and variable, ``n_any``, the customers of each block before
    complete cases are kept, and ``block``, the blocks' numbers.

    The engine groups the customers by block and by which variables they have (the pattern of
    missing values, a bit mask) and returns each group's count, sums, sums of squares and products
    (plain sums, no filter: about ``q**2 / 2`` aggregates); the pair statistics are sums of those
    over the patterns that have both variables. With ``pairwise=False`` the table holds complete
    cases only (:func:`_complete_cases`: one pattern, one row per block, where the patterns of
    many drivers would return up to ``2**q x blocks``), and ``n_any`` is its ``_n_any`` (one
    total, not per block).
    """
    if pairwise:
        pattern = ibis.literal(0, type="int64")
        for i in range(q):
            pattern = pattern + table[f"v{i}"].notnull().ifelse(1 << i, 0).cast("int64")
    else:  # complete cases only (:func:`_complete_cases`): one pattern, every bit set
        pattern = ibis.literal((1 << q) - 1, type="int64")
    table = table.mutate(_pattern=pattern)
    v = [table[f"v{i}"] for i in range(q)]
    agg: dict[str, ir.Value] = {"n": table.count()}
    if not pairwise:
        agg["n_any"] = table._n_any.max()
    for i in range(q):
        agg[f"S{i}"] = v[i].sum()
        agg[f"min{i}"] = v[i].min()
        agg[f"max{i}"] = v[i].max()
        for j in range(i, q):
            agg[f"P{i}_{j}"] = (v[i] * v[j]).sum()
    # (through Arrow straight to numpy: about 100 columns, whose conversion to a pandas frame
    # cost about as much as the engine's query on a million responses; the rows are put in
    # (block, pattern) order here, as an ORDER BY did, which cost more to compile than to run)
    arrow = table.group_by(["_block", "_pattern"]).aggregate(**agg).to_pyarrow()

    def unordered(name: str, dtype: type = float) -> NDArray[Any]:
        return np.asarray(arrow.column(name).to_numpy(zero_copy_only=False), dtype=dtype)

    order = np.lexsort((unordered("_pattern", np.int64), unordered("_block", np.int64)))

    def column(name: str, dtype: type = float) -> NDArray[Any]:
        return unordered(name, dtype)[order]

    blocks, row_block = np.unique(column("_block", np.int64), return_inverse=True)
    k = len(blocks)
    if pairwise:
        n_any = np.bincount(row_block, weights=column("n"), minlength=k)
    else:  # (the same window count on every row: once)
        n_any = column("n_any")[:1]
    has = (column("_pattern", np.int64)[:, None] >> np.arange(q)) & 1 == 1
    both = (has[:, :, None] & has[:, None, :]).astype(float)  # (rows, q, q)
    n = column("n")
    rows = len(n)
    sums = np.stack([column(f"S{i}") for i in range(q)], axis=1)
    prods = np.zeros((rows, q, q))
    for i in range(q):
        for j in range(i, q):
            prods[:, i, j] = prods[:, j, i] = column(f"P{i}_{j}")
    sums, prods = np.nan_to_num(sums), np.nan_to_num(prods)
    squares = np.diagonal(prods, axis1=1, axis2=2)
    mats = {name: np.zeros((k, q, q)) for name in "NSQP"}
    np.add.at(mats["N"], row_block, n[:, None, None] * both)
    np.add.at(mats["S"], row_block, sums[:, :, None] * both)
    np.add.at(mats["Q"], row_block, squares[:, :, None] * both)
    np.add.at(mats["P"], row_block, prods * both)
    extremes = {}
    for name, reduce in (("min", np.fmin), ("max", np.fmax)):
        values = np.stack([column(f"{name}{i}") for i in range(q)], axis=1)
        values = np.where(has, values, np.nan)
        out = np.full((k, q), np.nan)
        reduce.at(out, row_block, values)
        extremes[name] = out
    return mats | extremes | {"n_any": n_any, "block": blocks}


def _check_counts(
    n: NDArray[np.float64],
    specs: list[_Driver],
    min_n: int,
    n_used: int,
    n_with_any: int,
    missing: str,
    binary: bool,
) -> None:
    names = ["the outcome", *(repr(s.name) for s in specs)]
    if missing == "complete" and n_used < min_n:
        fix = "choose fewer drivers" + (
            " (a binary outcome needs complete cases)"
            if binary
            else ", or missing='pairwise' (--missing pairwise)"
        )
        raise MetricError(
            f"only {n_used:,} of the {n_with_any:,} customers with the outcome and some driver "
            f"have every driver (min_n={min_n}); {fix}"
        )
    low = np.argwhere(np.triu(n < min_n, k=1))
    if len(low):
        i, j = low[0]
        raise MetricError(
            f"only {int(n[i, j]):,} customers have both {names[i]} and {names[j]} "
            f"(min_n={min_n}); drop one of them, or lower min_n"
        )


def _check_corr(
    corr: NDArray[np.float64], specs: list[_Driver], constant: NDArray[np.bool_]
) -> None:
    """Refuse an undefined or singular correlation matrix, naming the variables at fault.

    ``constant`` marks the variables whose smallest and largest values over the customers analysed
    are equal: such a variable is refused even when the rounding of its sums left it a tiny
    variance and finite correlations (0.1 for 113 customers). A matrix whose smallest eigenvalue
    is at or below 1e-8 is singular.
    """
    names = ["the outcome", *(repr(s.name) for s in specs)]
    # (a constant's correlations are undefined, as when the rounding leaves its variance 0)
    off_diagonal = (constant[:, None] | constant[None, :]) & ~np.eye(len(corr), dtype=bool)
    broken = (~np.isfinite(corr) | off_diagonal).sum(axis=1)
    if broken.any():
        worst = int(np.argmax(broken))  # a constant variable breaks its whole row
        if broken[worst] < len(names) - 1:  # constant only among the customers of one pair
            other = int(np.flatnonzero(~np.isfinite(corr[worst]))[0])
            a, b = sorted((worst, other))
            raise MetricError(
                f"{names[b]} has the same value for every customer who has {names[a]} (or the "
                f"reverse), so their correlation is undefined; drop one of them (name the themes "
                "you want, or raise min_mentions), or use missing='complete'"
            )
        role = "nothing to explain" if worst == 0 else "it cannot be a driver"
        raise MetricError(f"{names[worst]} has the same value for every customer analysed; {role}")
    vals, vecs = np.linalg.eigh(corr)
    if vals[0] <= 1e-8:
        involved = [names[i] for i in np.flatnonzero(np.abs(vecs[:, 0]) > 0.3)]
        raise MetricError(
            "the correlation matrix of the outcome and drivers is singular or not positive "
            "definite (collinear drivers, an outcome fully determined by them, or inconsistent "
            f"pairwise correlations) around {', '.join(involved)}; drop a driver, or use "
            "missing='complete'"
        )


def _bootstrap_weights(k: int, n_boot: int, seed: int) -> NDArray[np.float64]:
    """Multinomial counts of each of ``k`` blocks in ``n_boot`` resamples of ``k`` blocks."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(float)


def _percentiles(values: NDArray[np.float64], level: float) -> tuple[Any, Any]:
    """Percentile interval at ``level`` over the replicates (rows); NaN with fewer than two."""
    if len(values) < 2:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lo, hi


def _ranks(values: NDArray[np.float64]) -> NDArray[np.int64]:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def _frame(
    specs: list[_Driver],
    total: dict[str, NDArray[np.float64]],
    stats: dict[str, NDArray[np.float64]],
    corr: NDArray[np.float64],
    rw: NDArray[np.float64],
    lmg: NDArray[np.float64],
    boot_rw: NDArray[np.float64],
    boot_lmg: NDArray[np.float64] | None,
    level: float,
) -> pd.DataFrame:
    n = total["N"].diagonal()[1:]
    perf = total["S"].diagonal()[1:] / n
    low = np.nanmin(stats["min"], axis=0)[1:]
    high = np.nanmax(stats["max"], axis=0)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        perf_pct = np.where(high > low, 100 * (perf - low) / (high - low), np.nan)
    r2_rw, r2_lmg = rw.sum(), lmg.sum()
    rw_lo, rw_hi = _percentiles(boot_rw, level)
    if boot_lmg is not None:
        boot_lmg = boot_lmg[np.isfinite(boot_lmg).all(axis=1)]
        lmg_lo, lmg_hi = _percentiles(boot_lmg, level)
    else:
        lmg_lo = lmg_hi = np.full(len(specs), np.nan)
    has_lmg = bool(np.isfinite(lmg).all())
    frame = pd.DataFrame(
        {
            "driver": [s.name for s in specs],
            "kind": [s.kind for s in specs],
            "metric": [s.metric for s in specs],
            "touchpoint": [s.touchpoint for s in specs],
            "n": n.astype(np.int64),
            "performance": perf,
            "performance_pct": perf_pct,
            "correlation": corr[1:, 0],
            "rw": rw,
            "rw_low": np.broadcast_to(rw_lo, rw.shape),
            "rw_high": np.broadcast_to(rw_hi, rw.shape),
            "rw_pct": 100 * rw / r2_rw,
            "lmg": lmg,
            "lmg_low": np.broadcast_to(lmg_lo, lmg.shape),
            "lmg_high": np.broadcast_to(lmg_hi, lmg.shape),
            "lmg_pct": 100 * lmg / r2_lmg if has_lmg else np.nan,
            "rank_rw": _ranks(rw),
            "rank_lmg": _ranks(lmg) if has_lmg else pd.array([pd.NA] * len(specs), "Int64"),
            "ranks_differ": (_ranks(rw) != _ranks(lmg)) if has_lmg else False,
            "label": LABEL,
        }
    )
    return frame.sort_values("rank_rw", kind="stable").reset_index(drop=True)
