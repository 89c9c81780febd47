"""An initiative: what it costs, whom it targets, when it starts and what it changes.

An initiative is read from a TOML file (:func:`read_initiative`) or built directly::

    name = "Family care plan"
    cost = 150000                 # in the workspace's currency
    start = 2025-01-01            # the day it started (or starts)
    horizon_years = 3             # how far ahead its value is counted
    change = "+25 NPS points"     # or "detractors to passive", "passives to promoter", ...

    [target]                      # exactly one of:
    segment = "family"            #   a column of customers and its value(s)
    # touchpoint = "financing"    #   customers with an event at this step
    # channel = "app"             #   customers with an event in this channel

    [measure]                     # optional: how the effect is measured afterwards
    window_days = 365             # the before and after windows (default: the longest both fit)
    products = ["service", "accessories"]  # the transactions whose spend counts (default: all)

The experience change is one of

``"<group>s to <group>"``
    every customer of the first NPS group (or CSAT/CES band) in the target moved to the level of
    the second: ``"detractors to passive"``, ``"passives to promoter"``, ``"not satisfied to
    satisfied"``, ``"not easy to easy"``;
``"+N NPS points"``
    the target's NPS raised by N points: N% of the target's NPS respondents move up one class,
    detractors first (each such customer adds one point per 1% of the respondents), then passives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox import _toml
from rox._time import utc_timestamp
from rox.errors import MetricError
from rox.impact.counterfactual import MOVES
from rox.impact.profile import GROUPS

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["Change", "Initiative", "Target", "read_initiative"]

#: Target kinds read from events rather than from a column of customers.
EVENT_TARGETS = {"touchpoint": "step", "channel": "channel"}

_POINTS = re.compile(r"^\s*\+?\s*(\d+(?:\.\d+)?)\s*nps\s+points?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """Whom an initiative reaches: customers by a column's value(s), a touchpoint or a channel.

    Attributes
    ----------
    kind : str
        ``"touchpoint"``, ``"channel"``, or the customers column (``"segment"``, ``"region"``...).
    values : tuple of str
    """

    kind: str
    values: tuple[str, ...]

    def customers(self, ws: Workspace) -> ir.Table:
        """The targeted customers' ids (text, distinct), as an Ibis table."""
        if self.kind in EVENT_TARGETS:
            e = ws.table("events")
            column = EVENT_TARGETS[self.kind]
            t = e.filter(e[column].isin(list(self.values)))
        else:
            t = ws.table("customers")
            if self.kind not in t.columns:
                raise MetricError(
                    f"cannot target customers by {self.kind!r}: expected touchpoint, channel or a "
                    f"column of customers ({', '.join(c for c in t.columns if c[0] != '_')})"
                )
            t = t.filter(t[self.kind].cast("string").isin(list(self.values)))
        return t.select(customer_id=t.customer_id.cast("string")).distinct()

    def __str__(self) -> str:
        return f"{self.kind} {' or '.join(self.values)}"


@dataclass(frozen=True)
class Change:
    """An experience change: one group moved to another's level, or NPS raised by some points.

    Attributes
    ----------
    by : str
        The grouping (``nps_group``, ``csat_band``, ``ces_band``).
    move, to : str or None
        The group moved and the level it is moved to (None for a change in points).
    points : float or None
        NPS points gained (None for a move).
    """

    by: str = "nps_group"
    move: str | None = None
    to: str | None = None
    points: float | None = None

    @classmethod
    def parse(cls, text: str) -> Change:
        """Read ``"detractors to passive"`` or ``"+5 NPS points"``.

        Examples
        --------
        >>> Change.parse("detractors to passive")
        Change(by='nps_group', move='detractor', to='passive', points=None)
        >>> Change.parse("+5 NPS points").points
        5.0
        """
        if not isinstance(text, str):
            raise MetricError(f"change={text!r}: expected text such as 'detractors to passive'")
        m = _POINTS.match(text)
        if m:
            points = float(m.group(1))
            if not 0 < points <= 200:
                raise MetricError(f"change={text!r}: expected between 0 and 200 NPS points")
            return cls(points=points)
        parts = re.split(r"\s+to\s+", text.strip().lower())
        if len(parts) == 2:
            for by in MOVES:
                if by == "friction":
                    continue
                groups = {g: g for g in GROUPS[by]} | {f"{g}s": g for g in GROUPS[by]}
                move, to = groups.get(parts[0].strip()), groups.get(parts[1].strip())
                if move and to and move != to:
                    return cls(by=by, move=move, to=to)
        raise MetricError(
            f"change={text!r}: expected '+N NPS points' or '<group>s to <group>' such as "
            "'detractors to passive', 'passives to promoter', 'not satisfied to satisfied'"
        )

    def __str__(self) -> str:
        if self.points is not None:
            return f"+{self.points:g} NPS points"
        return f"{self.move}s to {self.to}"


@dataclass(frozen=True)
class Initiative:
    """An initiative (see the module for its TOML form).

    Attributes
    ----------
    name : str
    cost : float
        What it costs, in the workspace's currency.
    target : Target
    start : pandas.Timestamp
        The day it started (UTC).
    change : Change
        The experience change it is expected to make (for the projection).
    horizon_years : float
        How far ahead its value is counted (the CLV's horizon).
    window_days : int or None
        The measurement's before and after windows (None: the longest both fit in the data).
    products : tuple of str
        The products whose spend counts as value when measuring (empty: every transaction).
    """

    name: str
    cost: float
    target: Target
    start: pd.Timestamp
    change: Change
    horizon_years: float = 3.0
    window_days: int | None = None
    products: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.cost > 0:
            raise MetricError(f"cost={self.cost!r}: expected a positive amount")
        if not 0 < self.horizon_years <= 50:
            raise MetricError(f"horizon_years={self.horizon_years!r}: expected 0 < years <= 50")
        if self.window_days is not None and self.window_days < 1:
            raise MetricError(f"window_days={self.window_days!r}: expected a positive number")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Initiative:
        """Build an initiative from the mapping a TOML file reads as."""
        known = {"name", "cost", "target", "start", "change", "horizon_years", "measure"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise MetricError(
                f"unknown initiative key(s) {', '.join(unknown)}; "
                f"expected {', '.join(sorted(known))}"
            )
        missing = [k for k in ("name", "cost", "target", "start", "change") if k not in spec]
        if missing:
            raise MetricError(f"the initiative needs {', '.join(missing)}")
        target = spec["target"]
        if not isinstance(target, Mapping) or len(target) != 1:
            raise MetricError(
                "[target] needs exactly one key: touchpoint, channel or a column of customers "
                '(e.g. segment = "family")'
            )
        ((kind, values),) = target.items()
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, Sequence) or not values:
            raise MetricError(f"target {kind}: expected a value or a list of values")
        measure = spec.get("measure", {})
        if not isinstance(measure, Mapping):
            raise MetricError("[measure] must be a table (window_days, products)")
        extra = sorted(set(measure) - {"window_days", "products"})
        if extra:
            raise MetricError(
                f"unknown [measure] key(s) {', '.join(extra)}: expected window_days, products"
            )
        try:
            cost = float(spec["cost"])
            horizon = float(spec.get("horizon_years", 3.0))
        except (TypeError, ValueError):
            raise MetricError("cost and horizon_years must be numbers") from None
        start = utc_timestamp(spec["start"], "start")
        assert start is not None
        window = measure.get("window_days")
        return cls(
            name=str(spec["name"]),
            cost=cost,
            target=Target(str(kind), tuple(str(v) for v in values)),
            start=start,
            change=Change.parse(spec["change"]),
            horizon_years=horizon,
            window_days=None if window is None else int(window),
            products=tuple(str(p) for p in measure.get("products", ())),
        )


def read_initiative(path: str | Path) -> Initiative:
    """Read an initiative from a TOML file (see the module for its keys).

    Examples
    --------
    >>> from rox.impact import read_initiative
    >>> read_initiative("examples/initiative.toml").target.kind  # doctest: +SKIP
    'segment'
    """
    return Initiative.from_dict(_toml.read(path, what="initiative", error=MetricError))
