"""The model-free comparison: the value of moving one experience group to another's mean level.

This is the group comparison behind the ROX, without a model: the difference in the groups' mean
values (associational). :func:`rox.impact.rox_model` is the ROX model, which prices the same move
through a fitted model of purchases, dropout and spend (causal under its listed assumptions),
splits it into those channels and values one NPS point; ``rox worth --rox`` prints both.

The value of moving every customer of a group (detractors, by default) to another group's level
(passives) is the value they would hold at that level minus the value they hold now::

    ROX = sum over strata s of  n_moved,s x (mean value of the target group in s
                                             - mean value of the moved group in s)

with the strata the values of a customers column (``strata=``, e.g. ``segment``) or one stratum
of everyone. This is the per-group (stratified difference-in-means) estimator of the average
effect on the moved customers; its interval comes from the Poisson bootstrap of the group means
(:mod:`rox.impact.bootstrap`), replicate by replicate.

**Associational.** It is the effect of experience only under assumptions that observational data
cannot check: that, within a stratum, the moved customers would be worth what the target group's
customers are worth had their experience been the target's (no unmeasured confounding: nothing
else that differs between the groups drives value), and that the target group's value is
reachable by changing experience. :attr:`Counterfactual.assumptions` lists them with the result.

Refutation: with ``placebo=True`` the groups are shuffled across customers (within strata) before
the computation, in the engine, by a seeded hash of each customer's number; the ROX of shuffled
experience should vanish (its interval should cover 0). A ROX whose placebo does not vanish is
not to be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.impact.bootstrap import bin_statistics, bootstrap_means
from rox.impact.profile import GROUPS, ExperienceProfile, profile
from rox.results import Result

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["Counterfactual", "counterfactual"]

_ALL = "all"
_SEP = "\x1f"  # between stratum and group in the bootstrap's group labels

#: The default move of each grouping: the worse group and the level it is moved to.
MOVES: dict[str, tuple[str, str]] = {
    "nps_group": ("detractor", "passive"),
    "csat_band": ("not satisfied", "satisfied"),
    "ces_band": ("not easy", "easy"),
    "friction": ("met friction", "no friction"),
}

ASSUMPTIONS = (
    "within each stratum, the moved customers would be worth what the target group's customers "
    "are worth had their experience been the target's (no unmeasured confounding)",
    "the target group's value is reachable by changing experience alone",
    "one customer's experience does not change another's value (no interference)",
)


@dataclass(frozen=True, eq=False)
class Counterfactual(Result):
    """The value of moving one experience group to another's level.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per stratum: ``stratum``, ``moved`` (customers moved), ``target_customers``,
        ``moved_mean``, ``target_mean`` (mean value per customer), ``rox`` (moved x the
        difference), ``rox_low``, ``rox_high``; strata without a target customer have no ROX and
        are left out of the total.
    total, low, high : float
        The ROX summed over strata, with its interval, in the value's currency.
    by, move, to, strata : str
        The grouping, the group moved, the group it is moved to, the strata column (or None).
    value_basis : str
        What the values are (a CLV with its horizon, or revenue to date).
    confidence : float
    placebo : bool
        Whether the groups were shuffled (a refutation run).
    label : str
        ``"associational"``.
    assumptions : tuple of str
        What must hold for the ROX to be an effect.
    """

    total: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    by: str = "nps_group"
    move: str = "detractor"
    to: str = "passive"
    strata: str | None = None
    value_basis: str = ""
    confidence: float = 0.95
    placebo: bool = False
    label: str = "associational"
    assumptions: tuple[str, ...] = ASSUMPTIONS

    _plotter: ClassVar[str | None] = None

    def __str__(self) -> str:
        moved = int(self.frame.loc[self.frame["rox"].notna(), "moved"].sum())
        interval = f"{self.confidence:.0%} interval {self.low:,.0f} to {self.high:,.0f}"
        if self.placebo:
            verdict = (
                "it covers 0, as it should"
                if self.low <= 0 <= self.high
                else "it does not cover 0: read the ROX with suspicion"
            )
            return (
                f"Placebo (experience shuffled across customers): {self.total:,.0f} ({interval}); "
                f"{verdict}."
            )
        return (
            f"Moving the {moved:,} customers of {self.by} {self.move!r} to the level of "
            f"{self.to!r} is worth about {self.total:,.0f} ({interval}) in {self.value_basis}; "
            f"{self.label}: an effect only if " + "; ".join(self.assumptions) + "."
        )


def _resolved_move(by: str, move: str | None, to: str | None, doing: str) -> tuple[str, str]:
    """The group moved and the group whose level it gets, defaults filled in (:data:`MOVES`).

    Without ``move``, the grouping's default move; without ``to``, the level just above
    ``move`` (``GROUPS`` lists each grouping's levels best first): passive to promoter,
    detractor to passive. A group with no level above it (the best, or a group outside the
    scale such as "no response") needs ``to`` named.

    Raises
    ------
    MetricError
        "cannot ``doing`` by ...": an unknown grouping; a group not of ``by``; ``move == to``;
        no level above ``move`` and no ``to``.
    """
    if by not in GROUPS:
        raise MetricError(f"cannot {doing} by {by!r}: expected one of {', '.join(GROUPS)}")
    move = MOVES[by][0] if move is None else move
    if move not in GROUPS[by]:
        raise MetricError(
            f"move={move!r} is not a {by} group: expected one of {', '.join(GROUPS[by])}"
        )
    if to is None:
        levels = GROUPS[by][: GROUPS[by].index(MOVES[by][0]) + 1]  # the scale, best first
        if move not in levels[1:]:
            raise MetricError(
                f"move={move!r} has no {by} level above it: name the level to move it to "
                f"(to=, --to), one of {', '.join(g for g in GROUPS[by] if g != move)}"
            )
        to = levels[levels.index(move) - 1]
    if to not in GROUPS[by]:
        raise MetricError(f"to={to!r} is not a {by} group: expected one of {', '.join(GROUPS[by])}")
    if move == to:
        raise MetricError(f"move and to are both {move!r}: nothing to move")
    return move, to


def counterfactual(
    ws: Workspace | ExperienceProfile,
    *,
    by: str = "nps_group",
    move: str | None = None,
    to: str | None = None,
    strata: str | None = None,
    placebo: bool = False,
    confidence: float = 0.95,
    replicates: int = 1000,
    resolution: float = 0.05,
    random_state: int | None = 0,
    **options: Any,
) -> Counterfactual:
    """The value of moving every customer of group ``move`` to the level of group ``to``.

    Parameters
    ----------
    ws : Workspace or ExperienceProfile
        A workspace (profiled with ``options``) or a profile.
    by : str
        The experience grouping (``nps_group``, ``csat_band``, ``ces_band``, ``friction``).
    move, to : str, optional
        The group moved and the group whose level it is moved to (default: detractor to passive,
        not satisfied to satisfied, not easy to easy, met friction to no friction; ``to``
        defaults to the level just above ``move``, e.g. passive to promoter).
    strata : str, optional
        A column of ``customers`` (e.g. ``segment``): compare within its values.
    placebo : bool
        Shuffle the groups across customers (within strata) first: the refutation run.
    confidence, replicates, resolution, random_state
        The bootstrap's level, replicates, value-bin width and seed (as :func:`worth`); the
        placebo's shuffle is seeded by ``random_state`` too.
    **options
        :func:`rox.impact.profile`'s options, with a workspace.

    Returns
    -------
    Counterfactual

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> result = rox.impact.counterfactual(ws, journey="purchase", goal="purchase")
    >>> result.label
    'associational'
    """
    if not 0 < confidence < 1:
        raise MetricError(f"confidence={confidence}: expected a level between 0 and 1")
    if replicates < 1 or not resolution > 0:
        raise MetricError("replicates and resolution must be positive")
    move, to = _resolved_move(by, move, to, "move customers")
    if isinstance(ws, ExperienceProfile) and options:
        raise MetricError("pass the profile's options to profile(), not here, with a profile")
    p = ws if isinstance(ws, ExperienceProfile) else profile(ws, **options)
    if strata is not None and strata not in p.attributes:
        raise MetricError(
            f"cannot stratify by {strata!r}: expected a column of customers "
            f"({', '.join(p.attributes) or 'none'})"
        )
    t = p.table
    stratum = ibis.literal(_ALL) if strata is None else t[strata].cast("string").fill_null("(none)")
    t = t.mutate(_stratum=stratum, _label=t[by])
    if placebo:
        t = _shuffled(t, random_state)
    t = t.filter(t["_label"].isin([move, to]))
    stats = bin_statistics(t, t["_stratum"].concat(_SEP, t["_label"]), resolution)
    labels = sorted(stats["group"].unique())
    draws = bootstrap_means(stats, labels, replicates=replicates, random_state=random_state)
    sums = stats.groupby("group")[["n", "clv_sum"]].sum()
    rows, total_draws = [], np.zeros(replicates)
    alpha = (1 - confidence) / 2
    q = [100 * alpha, 100 * (1 - alpha)]
    for s in sorted({g.split(_SEP)[0] for g in labels}):
        m, g = f"{s}{_SEP}{move}", f"{s}{_SEP}{to}"
        if m not in sums.index:
            continue
        moved = int(sums.loc[m, "n"])
        moved_mean = sums.loc[m, "clv_sum"] / moved
        row: dict[str, Any] = {"stratum": s, "moved": moved, "moved_mean": moved_mean}
        if g in sums.index:
            target = int(sums.loc[g, "n"])
            row.update(target_customers=target, target_mean=sums.loc[g, "clv_sum"] / target)
            row["rox"] = moved * (row["target_mean"] - moved_mean)
            d = moved * (draws[g] - draws[m])
            total_draws = total_draws + d
            row["rox_low"], row["rox_high"] = np.nanpercentile(d, q)
        rows.append(row)
    columns = [
        "stratum",
        "moved",
        "target_customers",
        "moved_mean",
        "target_mean",
        "rox",
        "rox_low",
        "rox_high",
    ]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    if frame["rox"].notna().any():
        total = float(frame["rox"].sum())
        low, high = (float(v) for v in np.nanpercentile(total_draws, q))
    else:
        total = low = high = float("nan")
    return Counterfactual(
        frame=frame,
        total=total,
        low=low,
        high=high,
        by=by,
        move=move,
        to=to,
        strata=strata,
        value_basis=p.value_basis,
        confidence=confidence,
        placebo=placebo,
    )


#: A prime above any number of customers, and the multiplier of the shuffle (Knuth's 2^32 / phi).
_PRIME, _MULTIPLIER = 4_294_967_311, 2_654_435_761


def _shuffled(t: ir.Table, seed: int | None) -> ir.Table:
    """``t`` with ``_label`` permuted across its rows within ``_stratum``.

    Customers are numbered in ``customer_id`` order (k = 0, 1, ...) and reordered by the seeded
    multiplicative hash ``(k * m + 97531) mod 4294967311`` with ``m = 2654435761 * (seed + 1) mod
    4294967311`` (a prime: each seed gives another order), computed the same way by every engine;
    the labels, in ``customer_id`` order, are dealt in that order.
    """
    multiplier = _MULTIPLIER * ((0 if seed is None else seed) + 1) % _PRIME or _MULTIPLIER
    by_id = ibis.window(group_by=t["_stratum"], order_by=t.customer_id)
    numbered = t.mutate(_pos=ibis.row_number().over(by_id))
    numbered = numbered.mutate(_key=(numbered["_pos"] * multiplier + 97_531) % _PRIME)
    by_key = ibis.window(group_by=numbered["_stratum"], order_by=numbered["_key"])
    labels = numbered.select("_stratum", "_label", "_pos")
    people = numbered.drop("_label", "_pos").mutate(_pos=ibis.row_number().over(by_key))
    joined = people.join(
        labels, [people["_stratum"] == labels["_stratum"], people["_pos"] == labels["_pos"]]
    )
    return joined.select(people, labels["_label"]).drop("_key")
