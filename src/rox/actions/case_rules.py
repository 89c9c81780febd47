"""Case rules: which triggers open a closed-loop case, for whom, how urgent, and the holdout.

Rules are TOML (the defaults are :data:`DEFAULT_RULES`)::

    [loop]
    holdout = 0.10              # share of eligible triggers randomly left without outreach
    seed = 17                   # the holdout's seed (keep it for the life of the loop)
    team = "cx-recovery"        # the team new cases belong to
    priority_values = [5000, 1500, 300]   # revenue to date at or above: priority 1, 2, 3; else 4
    max_escalations = 2         # a breached case goes up at most this many levels

    [loop.leads]                # who a case that breaches its SLA escalates to
    "cx-recovery" = "cx-lead"
    "cx-lead" = "head-of-cx"

    [[rule]]                    # a response rule: a score at or below max_score
    name = "detractor"
    metric = "nps"
    max_score = 6
    sla_hours = 48

    [[rule]]                    # a friction rule: a journey whose last step is one of steps,
    name = "friction"           # for customers worth at least min_value
    steps = ["financing"]
    min_value = 1500
    sla_hours = 72

    [[rule]]                    # a comment rule: a comment whose sentiment is below
    name = "negative_comment"   # sentiment_below (in [-1, 1]; :mod:`rox.voice.sentiment`)
    sentiment_below = -0.5
    sla_hours = 48

A comment rule reads the comments of the responses (of any metric) in the window, detects their
language and scores their sentiment as :func:`rox.voice.analyse` does (VADER's compound score in
English, the lexicon rules of :mod:`rox.voice.sentiment` in Italian, German, French and Spanish);
a comment in a language without a method has no score and opens nothing. Scoring runs in Python,
once per distinct text, on the comments of the window only.

A case's id is ``<rule>-<trigger>`` (the response id, or the journey and its last step), so
running the rules again opens nothing twice. A trigger that falls inside the life of one of the
customer's cases (from its opening to its closing, or now while it is active, or its due time
for a held-out case) opens nothing, and a run opens at most
one case per customer (the earliest trigger). The customer's value is their revenue before the
trigger (the brand's currency), known at the time and computed in the engine.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from rox._time import utc_timestamp
from rox.actions._toml import entries, parse, settings
from rox.actions.cases import (
    ACTIVE,
    OPEN,
    case_columns,
    case_rows,
    case_table,
    ensure_case_tables,
    escalate,
    event_rows,
    is_missing,
)
from rox.actions.holdout import HOLDOUT, OUTREACH, assign_arms, holdout_draw
from rox.errors import ActionError
from rox.results import Result
from rox.schema import CASE_EVENTS_TABLE, DEFAULT_SCALES, KEY_COLUMN

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir
    import pyarrow as pa

    from rox.workspace import Workspace

__all__ = [
    "DEFAULT_RULES",
    "HOLDOUT_DRAW_FUNCTION",
    "CaseRule",
    "CaseRules",
    "Escalations",
    "OpenedCases",
    "case_writes",
    "complete_cases",
    "completed_cases",
    "escalate_breached",
    "give_holdout_draw",
    "new_cases",
    "open_cases",
    "opening_moves",
    "possible_cases",
    "triggers",
]

#: The rules used when none are given: detractors (48 h) and low CSAT (72 h), 10% holdout.
DEFAULT_RULES = """
[loop]
holdout = 0.10
seed = 17
team = "cx-recovery"
priority_values = [5000, 1500, 300]

[loop.leads]
"cx-recovery" = "cx-lead"
"cx-lead" = "head-of-cx"

[[rule]]
name = "detractor"
metric = "nps"
max_score = 6
sla_hours = 48

[[rule]]
name = "low_csat"
metric = "csat"
max_score = 2
sla_hours = 72
"""


@dataclass(frozen=True)
class CaseRule:
    """One rule, by kind: response (``metric``), friction (``steps``) or comment (sentiment).

    Attributes
    ----------
    name : str
        The rule's name, the start of its cases' ids (letters, digits, ``_``).
    metric : str, optional
        ``nps``, ``csat`` or ``ces``: answers at or below ``max_score`` open a case.
    max_score : float, optional
        The highest score that opens a case (on the metric's default scale: NPS 0-10, CSAT 1-5,
        CES 1-7; answers on other scales are not matched).
    steps : tuple of str
        A journey whose last event is one of these steps opens a case.
    sentiment_below : float, optional
        A response whose comment's sentiment (in [-1, 1]) is below this opens a case.
    min_value : float
        Only customers whose revenue before the trigger is at least this (brand's currency).
    sla_hours : float
        Hours from opening to the due time.
    team : str, optional
        The team (default: the loop's).
    """

    name: str
    metric: str | None = None
    max_score: float | None = None
    steps: tuple[str, ...] = ()
    sentiment_below: float | None = None
    min_value: float = 0.0
    sla_hours: float = 48.0
    team: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ActionError(f"case rule name {self.name!r}: use letters, digits and _ only")
        kinds = (self.metric is not None) + bool(self.steps) + (self.sentiment_below is not None)
        if kinds != 1:
            raise ActionError(
                f"case rule {self.name!r} needs either metric (with max_score), steps or "
                "sentiment_below (one of them)"
            )
        if self.sentiment_below is not None and not -1.0 < self.sentiment_below <= 1.0:
            raise ActionError(
                f"case rule {self.name!r}: sentiment_below = {self.sentiment_below} is not in "
                "(-1, 1], the range of a comment's sentiment"
            )
        if self.metric is not None:
            if self.metric not in DEFAULT_SCALES:
                raise ActionError(
                    f"case rule {self.name!r}: metric {self.metric!r} is not one of nps, csat, ces"
                )
            if self.max_score is None:
                raise ActionError(f"case rule {self.name!r} needs max_score for {self.metric}")
        if not self.sla_hours > 0:
            raise ActionError(f"case rule {self.name!r}: sla_hours must be positive")


@dataclass(frozen=True)
class CaseRules:
    """The case rules and the loop's settings (see the module docstring for the TOML).

    Attributes
    ----------
    rules : tuple of CaseRule
    holdout : float
        Share of eligible triggers held out, in [0, 1).
    seed : int
        The holdout's seed.
    team : str
        The team new cases belong to.
    priority_values : tuple of float
        Revenue to date at or above each value gives priority 1, 2, 3 (else 4); descending.
    leads : mapping of str to str
        Owner or team → who a breached case escalates to.
    max_escalations : int
        The most levels a breached case is escalated (one per SLA period overdue).
    """

    rules: tuple[CaseRule, ...]
    holdout: float = 0.10
    seed: int = 17
    team: str = "cx-recovery"
    priority_values: tuple[float, ...] = (5000.0, 1500.0, 300.0)
    leads: Mapping[str, str] = field(default_factory=dict)
    max_escalations: int = 2

    def __post_init__(self) -> None:
        if not self.rules:
            raise ActionError("the case rules hold no [[rule]]")
        if not 0.0 <= self.holdout < 1.0:
            raise ActionError(f"holdout must be a share in [0, 1), got {self.holdout}")
        if list(self.priority_values) != sorted(self.priority_values, reverse=True):
            raise ActionError("priority_values must be in descending order (priority 1 first)")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ActionError(f"case rule names must be unique: {names}")

    @classmethod
    def load(cls, source: CaseRules | str | os.PathLike[str] | None = None) -> CaseRules:
        """Rules from a TOML file, TOML text, or the defaults (None).

        Raises
        ------
        ActionError
            If the TOML is malformed or a setting is invalid (naming it).
        """
        if isinstance(source, CaseRules):
            return source
        data = parse(source, default=DEFAULT_RULES, what="case rules")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseRules:
        """Rules from parsed TOML (``[loop]`` and ``[[rule]]``)."""
        loop = settings(
            data,
            tables=("loop", "rule"),
            section="loop",
            known=("holdout", "seed", "team", "priority_values", "leads", "max_escalations"),
            what="case rules",
        )
        rules = entries(
            data,
            "rule",
            lambda raw: CaseRule(**{**raw, "steps": tuple(raw.get("steps", ()))}),
            fields=CaseRule.__dataclass_fields__,
            label="case rule",
        )
        return cls(
            rules=tuple(rules),
            holdout=float(loop.get("holdout", 0.10)),
            seed=int(loop.get("seed", 17)),
            team=str(loop.get("team", "cx-recovery")),
            priority_values=tuple(float(v) for v in loop.get("priority_values", (5000, 1500, 300))),
            leads=dict(loop.get("leads", {})),
            max_escalations=int(loop.get("max_escalations", 2)),
        )

    def rule(self, name: str) -> CaseRule:
        """The rule called ``name``."""
        for r in self.rules:
            if r.name == name:
                return r
        raise ActionError(f"no case rule {name!r}; the rules are {[r.name for r in self.rules]}")

    def priority(self, value: float) -> int:
        """Priority 1 (most urgent) to 4 of a customer with revenue to date ``value``."""
        for level, floor in enumerate(self.priority_values, start=1):
            if value >= floor:
                return level
        return len(self.priority_values) + 1


@dataclass(frozen=True, eq=False)
class OpenedCases(Result):
    """The cases a run of the rules opened (one row each, ``arm`` saying outreach or holdout).

    Attributes
    ----------
    frame : pandas.DataFrame
        ``case_id``, ``customer_id``, ``trigger``, ``opened_at``, ``due_at``, ``priority``,
        ``value``, ``arm``, ``team``, ``touchpoint``.
    holdout_share : float
        The configured holdout share.
    """

    holdout_share: float = 0.0

    def __str__(self) -> str:
        held = int((self.frame["arm"] == HOLDOUT).sum()) if len(self.frame) else 0
        return (
            f"{len(self.frame):,} cases opened ({held:,} held out without outreach, "
            f"configured share {self.holdout_share:.0%})"
        )


#: The end of an active case's life, for the comparison of times.
_FOREVER = ibis.literal(pd.Timestamp("9999-12-31", tz="UTC").to_pydatetime(), "timestamp('UTC')")


def _value_before(ws: Workspace, triggers: ir.Table) -> ir.Table:
    """Each trigger with ``value``: the customer's revenue strictly before the trigger."""
    t = ws.table("transactions")
    j = triggers.left_join(
        t.select(t.customer_id, tx_ts=t.ts, amount=t.amount),
        [triggers.customer_id == t.customer_id, t.ts < triggers.opened_at],
    )
    keep = list(triggers.columns)
    return j.group_by(keep).aggregate(value=j.amount.sum().fill_null(0.0))


def _scored(r: ir.Table, rule: CaseRule) -> ir.BooleanValue:
    """Whether a response of ``r`` triggers score rule ``rule`` (a customer's low score)."""
    assert rule.metric is not None and rule.max_score is not None
    scale = DEFAULT_SCALES[rule.metric].label
    return (
        (r.metric == rule.metric)
        & (r.scale.isnull() | (r.scale == scale))
        & (r.score <= rule.max_score)
        & r.customer_id.notnull()
    )


def _response_triggers(ws: Workspace, rule: CaseRule, responses: ir.Table | None) -> ir.Table:
    r = ws.table("responses") if responses is None else responses
    r = r.filter(_scored(r, rule))
    rid = r.response_id.fill_null(r[KEY_COLUMN])
    return r.select(
        case_id=ibis.literal(f"{rule.name}-") + rid,
        customer_id=r.customer_id,
        opened_at=r.ts,
        response_id=rid,
        trigger=ibis.literal(rule.name),
        trigger_id=rid,
        touchpoint=r.touchpoint,
    )


def _friction_triggers(ws: Workspace, rule: CaseRule) -> ir.Table:
    e = ws.table("events")
    journey = e.journey.fill_null(e.customer_id)
    e = e.mutate(_journey=journey)
    last = e.group_by(["customer_id", "_journey"]).aggregate(
        step=e.step.argmax(e.ts), opened_at=e.ts.max()
    )
    last = last.filter(last.step.isin(list(rule.steps)))
    trigger_id = last._journey + ibis.literal(":") + last.step
    return last.select(
        case_id=ibis.literal(f"{rule.name}-") + trigger_id,
        customer_id=last.customer_id,
        opened_at=last.opened_at,
        response_id=ibis.null("string"),
        trigger=ibis.literal(rule.name),
        trigger_id=trigger_id,
        touchpoint=last.step,
    )


def _comment_triggers(
    ws: Workspace, rule: CaseRule, lo: pd.Timestamp | None, hi: pd.Timestamp | None
) -> ir.Table:
    """Responses whose comment's sentiment is below the rule's (scored in Python, see module)."""
    from rox.voice.comments import with_sentiment

    assert rule.sentiment_below is not None
    r = ws.table("responses")
    r = r.filter(r.customer_id.notnull() & r.comment.notnull() & (r.comment.strip() != ""))
    if lo is not None:
        r = r.filter(r.ts >= lo.to_pydatetime())
    if hi is not None:
        r = r.filter(r.ts < hi.to_pydatetime())
    r = r.mutate(_rid=r.response_id.fill_null(r[KEY_COLUMN]))
    read = ["_rid", "comment", *(["language"] if "language" in r.columns else [])]
    comments = r.select(*read).execute()
    below = []
    if len(comments):
        scored = with_sentiment(comments)
        below = scored.loc[scored["sentiment"] < rule.sentiment_below, "_rid"].astype(str).tolist()
    hits = ibis.memtable(pd.DataFrame({"_hit": pd.Series(below, dtype="object")}),
                         schema={"_hit": "string"})  # fmt: skip
    r = r.join(hits, r._rid == hits._hit)
    return r.select(
        case_id=ibis.literal(f"{rule.name}-") + r._rid,
        customer_id=r.customer_id,
        opened_at=r.ts,
        response_id=r._rid,
        trigger=ibis.literal(rule.name),
        trigger_id=r._rid,
        touchpoint=r.touchpoint,
    )


def triggers(
    ws: Workspace,
    rules: CaseRules,
    *,
    since: Any = None,
    until: Any = None,
    responses: ir.Table | None = None,
) -> ir.Table:
    """Every trigger of ``rules`` (an Ibis table), with the customer's value before it.

    Columns: ``case_id``, ``customer_id``, ``opened_at``, ``response_id``, ``trigger``,
    ``trigger_id``, ``touchpoint``, ``sla_hours``, ``min_value``, ``value``.

    ``responses``, when given, are the only responses looked at (rows of the ``responses``
    table, such as one batch just written), and only the score rules apply: a journey's last
    step is known once it has ended, and comments are scored in Python, which the rules run
    later (:func:`open_cases`) do.
    """
    lo, hi = utc_timestamp(since, "since"), utc_timestamp(until, "until")
    parts = []
    for rule in rules.rules:
        if responses is not None and not rule.metric:
            continue  # on arrival: the score rules only (see above)
        if rule.metric:
            part = _response_triggers(ws, rule, responses)
        elif rule.steps:
            part = _friction_triggers(ws, rule)
        else:
            part = _comment_triggers(ws, rule, lo, hi)
        parts.append(
            part.mutate(
                sla_hours=ibis.literal(float(rule.sla_hours)),
                min_value=ibis.literal(float(rule.min_value)),
            )
        )
    if not parts:
        raise ActionError("the case rules hold no response rule ([[rule]] with metric)")
    every = parts[0] if len(parts) == 1 else ibis.union(*parts)
    if lo is not None:
        every = every.filter(every.opened_at >= lo.to_pydatetime())
    if hi is not None:
        every = every.filter(every.opened_at < hi.to_pydatetime())
    valued = _value_before(ws, every)
    return valued.filter(valued.value >= valued.min_value)


def open_cases(
    ws: Workspace,
    rules: CaseRules | str | os.PathLike[str] | None = None,
    *,
    since: Any = None,
    until: Any = None,
    now: Any = None,
    announce: Callable[[pd.DataFrame], Mapping[str, pa.Table]] | None = None,
) -> OpenedCases:
    """Open a case for every new trigger of ``rules``, assigning the holdout; idempotent.

    Parameters
    ----------
    ws : Workspace
        A writable DuckDB or PostgreSQL workspace.
    rules : CaseRules, path or TOML text, optional
        The rules (default :data:`DEFAULT_RULES`).
    since, until : date-like, optional
        Consider triggers with ``since <= time < until`` only (e.g. from the loop's go-live).
    now : date-like, optional
        The time recorded for the opening moves (default: the current time). A case's
        ``opened_at`` is its trigger's time, and its due time counts from there.
    announce : callable, optional
        Called with the cases opened (their frame, holdout included), it gives more rows (table
        → Arrow rows) written in the same transaction as the cases: the outbound webhooks'
        outbox (``rox cases open --webhooks``; :func:`rox.service.arrival.announce_openings`).

    Returns
    -------
    OpenedCases
        The cases opened by this run (none when run again on the same data).

    Examples
    --------
    >>> import rox
    >>> from rox.actions import open_cases
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=1_000, seed=7)
    >>> first = open_cases(ws, since="2025-11-01")
    >>> again = open_cases(ws, since="2025-11-01")
    >>> len(first) > 0, len(again)
    (True, 0)
    """
    config = CaseRules.load(rules)
    new_columns = ensure_case_tables(ws)
    when = utc_timestamp(now, "now") or pd.Timestamp.now(tz="UTC")
    found = triggers(ws, config, since=since, until=until)
    fresh = new_cases(ws, found, new_columns)
    frame = fresh.execute().sort_values(["opened_at", "case_id"]).reset_index(drop=True)
    frame = complete_cases(frame, config, when)
    if len(frame):
        rows: dict[str, Any] = case_writes(frame, when)
        rows.update(announce(frame) if announce is not None else {})
        ws.append_rows(rows, new_columns={"cases": new_columns} if new_columns else None)
    shown = [
        "case_id",
        "customer_id",
        "trigger",
        "opened_at",
        "due_at",
        "priority",
        "value",
        "arm",
        "team",
        "touchpoint",
    ]
    return OpenedCases(frame=frame.reindex(columns=shown), holdout_share=config.holdout)


def new_cases(
    ws: Workspace, found: ir.Table, new_columns: Mapping[str, str] | None = None
) -> ir.Table:
    """The triggers of ``found`` that open a case: none twice, one per customer (the earliest).

    Not a case id already opened, nor a trigger within the life of one of the customer's cases
    (see the module docstring). ``new_columns`` are ``cases`` columns an older workspace lacks.
    """
    cases = case_table(ws)
    if new_columns:
        cases = cases.mutate(
            **{c: ibis.null(t) for c, t in new_columns.items() if c in cases.columns}
        )
    fresh = _outside_lives(found.anti_join(cases.select("case_id"), "case_id"), cases)
    # one case per customer per run: the earliest trigger
    first = ibis.row_number().over(group_by="customer_id", order_by=["opened_at", "case_id"])
    fresh = fresh.mutate(_n=first)
    return fresh.filter(fresh._n == 0).drop("_n")


def _outside_lives(found: ir.Table, cases: ir.Table) -> ir.Table:
    """The triggers of ``found`` outside the life of every one of their customer's ``cases``.

    Only the cases of ``found``'s customers are read for their lives (a semi-join first): the
    anti-join matches no other, and the service runs this for each batch, whose few customers
    would otherwise have every case ever opened computed and hashed (18.9 ms a batch at 500,000
    cases against 1.35 ms at 5,000; docs/benchmarks.md).
    """
    cases = cases.filter(cases.customer_id.isin(found.customer_id))
    lives = cases.select(
        "customer_id",
        life_from=cases.opened_at,
        # an active case lives on; a closed one until its closing; a held-out one until it
        # would have been due
        life_to=ibis.cases(
            (cases.status.isin(ACTIVE), _FOREVER),
            (cases.closed_at.notnull(), cases.closed_at),
            else_=cases.due_at.fill_null(cases.opened_at),
        ),
    )
    return found.anti_join(
        lives,
        [
            found.customer_id == lives.customer_id,
            found.opened_at >= lives.life_from,
            found.opened_at <= lives.life_to,
        ],
    )


def possible_cases(ws: Workspace, rules: CaseRules, responses: ir.Table) -> ir.Table:
    """The triggers among ``responses`` that may open a case: a cheap test before the full one.

    The customers and times (``customer_id``, ``opened_at``) of the responses that trigger a
    score rule (the condition :func:`triggers` applies), outside the life of every case of their
    customer (as in :func:`new_cases`). Every case that
    :func:`new_cases` of :func:`triggers` of the same ``responses`` opens is one of these: the
    value, its rule's ``min_value``, the case ids already opened and the one case per customer
    only take triggers away. So when this table is empty, so is that one; it is a few joins
    fewer, which is what DuckDB's fixed cost of a statement grows with (the writer of the
    service runs it for each batch, and the full statement only when it finds a row).
    """
    r = responses
    scored = [_scored(r, rule) for rule in rules.rules if rule.metric]
    if not scored:
        raise ActionError("the case rules hold no response rule ([[rule]] with metric)")
    # (one pass over the responses for every rule: a union per rule costs a statement more)
    found = r.filter(ibis.or_(*scored)).select("customer_id", opened_at=r.ts)
    return _outside_lives(found, case_table(ws))


def case_writes(frame: pd.DataFrame, when: pd.Timestamp) -> dict[str, pa.Table]:
    """The rows that open the cases of ``frame`` (from :func:`complete_cases`): table → rows.

    The ``cases`` rows and their opening moves in ``rox_case_events``, to append in one
    transaction.
    """
    moves = opening_moves(
        # (column by column: a row tuple per case costs more, for a batch's few cases)
        frame["case_id"].tolist(),
        frame["arm"].tolist(),
        frame["status"].tolist(),
        frame["trigger"].tolist(),
        when.to_pydatetime(),
    )
    return {"cases": case_rows(frame), CASE_EVENTS_TABLE: moves}


def opening_moves(
    case_ids: list[str], arms: list[str], statuses: list[str], rules: list[str], at: Any
) -> pa.Table:
    """The opening moves (``rox_case_events`` rows) of new cases, given column by column.

    ``open`` for a case with outreach, ``hold out`` for a held-out one, from no status to the
    case's, at ``at``, with the rule that opened it as the detail.
    """
    return event_rows(
        [
            {
                "case_id": case_id,
                "at": at,
                "move": "open" if arm != HOLDOUT else "hold out",
                "from_status": None,
                "to_status": status,
                "owner": None,
                "detail": rule,
            }
            for case_id, arm, status, rule in zip(case_ids, arms, statuses, rules, strict=True)
        ]
    )


def complete_cases(frame: pd.DataFrame, config: CaseRules, when: pd.Timestamp) -> pd.DataFrame:
    """Fill in the new cases' arm, status, priority, team and due time (at ``when``)."""
    if frame.empty:
        return frame.assign(arm=[], status=[], priority=[], team=[], due_at=[], updated_at=[])
    arms = assign_arms(frame["case_id"], config.holdout, config.seed)
    hours = pd.to_timedelta(frame["sla_hours"], unit="h")
    teams = {r.name: r.team or config.team for r in config.rules}
    return frame.assign(
        arm=arms,
        status=[HOLDOUT if a == HOLDOUT else OPEN for a in arms],
        priority=[config.priority(float(v)) for v in frame["value"]],
        team=frame["trigger"].map(teams),
        due_at=pd.to_datetime(frame["opened_at"], utc=True) + hours,
        escalation=0,
        updated_at=when,
    )


#: The SQL function that draws a case's holdout number in the engine (:func:`completed_cases`):
#: ``rox_holdout_draw(case_id, seed)``, :func:`rox.actions.holdout.holdout_draw` itself, which
#: the connection must have been given (a DuckDB connection's ``create_function``)
HOLDOUT_DRAW_FUNCTION = "rox_holdout_draw"


# (ibis's udf decorators carry no annotations: mypy cannot see the function they return)
@ibis.udf.scalar.builtin(name=HOLDOUT_DRAW_FUNCTION)  # type: ignore[untyped-decorator]
def _holdout_draw(case_id: str, seed: int) -> float:  # type: ignore[empty-body]
    """:func:`rox.actions.holdout.holdout_draw`, run by the engine (see above)."""


def give_holdout_draw(con: Any) -> None:
    """Give DuckDB connection ``con`` the SQL function :data:`HOLDOUT_DRAW_FUNCTION`.

    It is :func:`rox.actions.holdout.holdout_draw` itself, called by DuckDB with each case id
    and the seed (given again, the function is replaced by itself).
    """
    import duckdb
    from duckdb import sqltypes

    with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
        con.remove_function(HOLDOUT_DRAW_FUNCTION)
    con.create_function(
        HOLDOUT_DRAW_FUNCTION,
        holdout_draw,
        [sqltypes.VARCHAR, sqltypes.BIGINT],
        sqltypes.DOUBLE,
        side_effects=False,
    )


def completed_cases(fresh: ir.Table, config: CaseRules) -> ir.Table:
    """:func:`complete_cases` in the engine: the new cases of ``fresh`` as ``cases`` rows.

    ``fresh`` is :func:`new_cases`' table; the result has the ``cases`` columns a new case
    sets but ``updated_at`` (the time of the write, given by the writer): ``case_id``,
    ``customer_id``, ``opened_at``, ``response_id``, ``trigger``, ``trigger_id``,
    ``touchpoint``, ``value``, and as :func:`complete_cases` fills them in: ``arm`` (the
    holdout's draw below the share: held out), ``status`` (``holdout`` or ``open``),
    ``priority`` (:meth:`CaseRules.priority` of the value), ``team`` (the rule's, else the
    loop's), ``due_at`` (the opening plus the rule's SLA, to the microsecond as pandas'
    ``to_timedelta`` gives it, as stored) and ``escalation`` 0. Only the response rules'
    triggers (``trigger`` the rule's name) are completed: the rules on arrival.

    The draw is the SQL function :data:`HOLDOUT_DRAW_FUNCTION`, which the connection that
    runs the expression must have (:func:`give_holdout_draw`); with a holdout share of 0
    nothing is drawn (no draw is below 0). ``tests/service/test_arrival.py`` writes the same
    batches both ways and compares the rows.
    """
    rules = [r for r in config.rules if r.metric]
    if not rules:
        raise ActionError("the case rules hold no response rule ([[rule]] with metric)")
    f = fresh
    if config.holdout > 0:
        held = _holdout_draw(f.case_id, ibis.literal(config.seed, "int64")) < config.holdout
        arm = ibis.ifelse(held, ibis.literal(HOLDOUT), ibis.literal(OUTREACH))
    else:
        arm = ibis.literal(OUTREACH)
    levels = [(f.value >= floor, level) for level, floor in enumerate(config.priority_values, 1)]
    last = ibis.literal(len(config.priority_values) + 1, "int64")
    priority = ibis.cases(*levels, else_=last).cast("int64") if levels else last
    team = ibis.cases(*((f.trigger == r.name, r.team or config.team) for r in rules))
    due = ibis.cases(
        *((f.trigger == r.name, f.opened_at + ibis.interval(microseconds=_sla_us(r)))
          for r in rules)
    )  # fmt: skip
    return f.select(
        "case_id",
        "customer_id",
        "opened_at",
        "response_id",
        "trigger",
        "trigger_id",
        "touchpoint",
        "value",
        arm=arm,
        status=ibis.ifelse(arm == HOLDOUT, ibis.literal(HOLDOUT), ibis.literal(OPEN)),
        priority=priority,
        team=team,
        due_at=due,
        escalation=ibis.literal(0, "int64"),
    )


def _sla_us(rule: CaseRule) -> int:
    """A rule's SLA in whole microseconds, as :func:`complete_cases`' due time is stored."""
    return int(pd.to_timedelta(rule.sla_hours, unit="h") // pd.Timedelta(microseconds=1))


@dataclass(frozen=True, eq=False)
class Escalations(Result):
    """Cases escalated for breaching their SLA: ``case_id``, ``level``, ``owner``, ``priority``."""

    def __str__(self) -> str:
        return f"{len(self.frame):,} cases escalated"


def escalate_breached(
    ws: Workspace, rules: CaseRules | str | os.PathLike[str] | None = None, *, now: Any = None
) -> Escalations:
    """Escalate every active case past its due time, once per SLA period overdue.

    A case overdue by ``d`` hours with an SLA of ``s`` hours should stand at escalation level
    ``min(1 + floor(d / s), max_escalations)``; each missing level moves its priority up one
    (to 1 at most) and its owner to the owner's lead in ``[loop.leads]`` (or the team's lead when
    it has no owner), in one move per case. Running it again at the same time escalates nothing
    more.
    """
    config = CaseRules.load(rules)
    at = utc_timestamp(now, "now") or pd.Timestamp.now(tz="UTC")
    t = case_table(ws)
    columns = list(case_columns())
    due = (
        t.filter(t.status.isin(ACTIVE) & t.due_at.notnull() & (t.due_at < at.to_pydatetime()))
        .select(*columns)
        .execute()
    )
    done = []
    for row in due.to_dict("records"):
        current = {k: (None if is_missing(v) else v) for k, v in row.items() if k in columns}
        sla = _sla_hours(config, row["trigger"], row["opened_at"], row["due_at"])
        overdue = (at - pd.Timestamp(row["due_at"])).total_seconds() / 3600.0
        target = min(1 + math.floor(overdue / sla), config.max_escalations)
        level = int(current.get("escalation") or 0)
        if level >= target:
            continue
        owner, lead = current.get("owner"), None
        for _ in range(target - level):  # up the chain of leads, one per level
            holder = owner or current.get("team")
            lead = config.leads.get(str(holder)) if holder is not None else None
            owner = lead or owner
        case = escalate(
            ws,
            str(row["case_id"]),
            lead=owner if owner != current.get("owner") else None,
            at=at,
            reason=f"SLA breached by {overdue:.0f} h",
            levels=target - level,
            current=current,
        )
        done.append(
            {
                "case_id": row["case_id"],
                "level": target,
                "owner": case["owner"],
                "priority": case["priority"],
            }
        )
    frame = pd.DataFrame(done, columns=["case_id", "level", "owner", "priority"])
    return Escalations(frame=frame)


def _sla_hours(config: CaseRules, trigger: Any, opened: Any, due: Any) -> float:
    """The case's SLA in hours: its due time minus its opening (its rule's, else 48 h)."""
    hours = float((pd.Timestamp(due) - pd.Timestamp(opened)).total_seconds()) / 3600.0
    if hours > 0:
        return hours
    names = {r.name: r.sla_hours for r in config.rules}
    return float(names.get(str(trigger), 48.0))
