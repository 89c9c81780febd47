"""The canonical tables of a rox workspace and the scales of experience metrics.

Every analysis reads these five tables; ingestion maps a user's columns onto them. Column types are
declared (ibis type strings), times are stored in UTC, and columns a user brings that are not
listed here are kept, after the canonical ones, as attributes.

Three bookkeeping columns are added to every table by ingestion:

``_key``
    The row's natural key (``order_id``, ``response_id``, ``case_id``, ``customer_id``), or an
    MD5 hash of the row's canonical content where the table has no key column, so that loading the
    same file twice adds nothing the second time.
``_load_id``
    The load that brought the row (see the ``rox_loads`` table).
``_seq``
    The order in which the row was recorded: an integer that increases with its row in its
    source (or with the source's own order column, when the mapping names one), then with the
    sources of a load in the order given, then with the loads (#21). Journey analyses order the
    events of a journey by time, then by ``_seq``: events sharing a timestamp keep the order in
    which they were recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ADDED_COLUMNS",
    "API_KEYS_TABLE",
    "AUDIT_TABLE",
    "CASE_EVENTS_TABLE",
    "CLV_TABLE",
    "DEFAULT_SCALES",
    "DELIVERIES_TABLE",
    "DERIVED",
    "DERIVED_TABLES",
    "IDEMPOTENCY_TABLE",
    "IMPRESSIONS_TABLE",
    "JOURNEY_INDEX_TABLES",
    "LOADS_TABLE",
    "METRICS",
    "REJECTS_TABLE",
    "RESULT_TABLES",
    "SCALES_TABLE",
    "SEQ_COLUMN",
    "SETTINGS_TABLE",
    "SYSTEM_COLUMNS",
    "SYSTEM_TABLES",
    "TABLES",
    "Column",
    "DerivedTables",
    "Metric",
    "Scale",
    "TableSpec",
    "table_spec",
]

Metric = Literal["nps", "csat", "ces"]
METRICS: tuple[Metric, ...] = ("nps", "csat", "ces")

KEY_COLUMN = "_key"
LOAD_COLUMN = "_load_id"
SEQ_COLUMN = "_seq"
#: The bookkeeping columns every canonical table has, after its own.
SYSTEM_COLUMNS = (KEY_COLUMN, LOAD_COLUMN, SEQ_COLUMN)


@dataclass(frozen=True)
class Column:
    """A column of a canonical table.

    Attributes
    ----------
    name : str
        Canonical name.
    dtype : str
        Ibis type: ``string``, ``float64``, ``int64`` or ``timestamp`` (always stored as UTC).
    required : bool
        Whether every input must provide it (and every row must have a value).
    doc : str
        What the column holds, with its unit.
    """

    name: str
    dtype: str
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns, natural key and time column."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    time_column: str | None = None
    doc: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required columns."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of all canonical columns, in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_S, _F, _I, _T = "string", "float64", "int64", "timestamp"

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "customers",
            (
                Column("customer_id", _S, True, "the customer's identifier"),
                Column("first_seen", _T, doc="first contact with the brand (UTC)"),
                Column("segment", _S, doc="marketing segment"),
                Column("region", _S, doc="geographic region"),
            ),
            key=("customer_id",),
            time_column="first_seen",
            doc="one row per customer, with any attributes",
        ),
        TableSpec(
            "transactions",
            (
                Column("customer_id", _S, True, "who bought"),
                Column("ts", _T, True, "when (UTC)"),
                Column("amount", _F, True, "revenue of the transaction, in the brand's currency"),
                Column("order_id", _S, doc="order identifier; the natural key when given"),
                Column("channel", _S, doc="sales channel"),
                Column("product", _S, doc="product or product category"),
                Column("quantity", _F, doc="units (never negative)"),
            ),
            key=("order_id",),
            time_column="ts",
            doc="purchases: one row per order (or order line)",
        ),
        TableSpec(
            "events",
            (
                Column("customer_id", _S, True, "whose journey"),
                Column("ts", _T, True, "when the touchpoint happened (UTC)"),
                Column("step", _S, True, "the touchpoint, e.g. 'test_drive_booking'"),
                Column("channel", _S, doc="channel of the touchpoint, e.g. 'web', 'dealer', 'app'"),
                Column("session_id", _S, doc="session the event belongs to"),
                Column("journey", _S, doc="journey the event belongs to, when known"),
            ),
            time_column="ts",
            doc="omnichannel touchpoint events",
        ),
        TableSpec(
            "responses",
            (
                Column("ts", _T, True, "when the response was given (UTC)"),
                Column("metric", _S, True, "'nps', 'csat' or 'ces'"),
                Column("score", _F, True, "the answer, on the response's scale"),
                Column("response_id", _S, doc="response identifier; the natural key when given"),
                Column("customer_id", _S, doc="who answered, when known"),
                Column("scale", _S, doc="scale as 'low-high', e.g. '0-10' (filled at ingest)"),
                Column("touchpoint", _S, doc="the touchpoint the survey was about"),
                Column("channel", _S, doc="channel of the touchpoint or of the survey"),
                Column("comment", _S, doc="free-text comment"),
                Column("language", _S, doc="language of the comment (ISO 639-1)"),
                Column("weight", _F, doc="survey weight (1 when not given)"),
            ),
            key=("response_id",),
            time_column="ts",
            doc="survey responses (feedback)",
        ),
        TableSpec(
            "cases",
            (
                Column("case_id", _S, True, "case identifier"),
                Column("customer_id", _S, True, "the customer followed up"),
                Column("opened_at", _T, True, "when the case was opened (UTC)"),
                Column("status", _S, True, "open, in_progress, closed ..."),
                Column("response_id", _S, doc="the response that opened the case"),
                Column("owner", _S, doc="who is responsible"),
                Column("due_at", _T, doc="when it must be resolved (UTC)"),
                Column("closed_at", _T, doc="when it was closed (UTC)"),
                Column("resolution", _S, doc="how it was resolved"),
                Column("team", _S, doc="the team the case belongs to"),
                Column("priority", _I, doc="1 (most urgent) to 4, by the customer's value"),
                Column("trigger", _S, doc="the case rule that opened it, e.g. 'detractor'"),
                Column("trigger_id", _S, doc="the row that triggered it (response or journey)"),
                Column("touchpoint", _S, doc="the touchpoint of the trigger"),
                Column("value", _F, doc="the customer's value when opened, brand's currency"),
                Column("arm", _S, doc="'outreach', or 'holdout' (randomly left without outreach)"),
                Column("first_action_at", _T, doc="when work on it started (UTC)"),
                Column("escalation", _I, doc="times it was escalated for breaching its SLA"),
                Column("updated_at", _T, doc="when it last changed (UTC)"),
            ),
            key=("case_id",),
            time_column="opened_at",
            doc="closed-loop follow-up cases",
        ),
    )
}


# -- the tables beside the canonical ones --------------------------------------------------------
#: Bookkeeping tables every workspace has besides the canonical ones.
LOADS_TABLE = "rox_loads"
REJECTS_TABLE = "rejects"
SCALES_TABLE = "rox_scales"
SETTINGS_TABLE = "rox_settings"
#: The intake service's tables (:mod:`rox.service`): API keys (hashed), the answers kept for
#: ``Idempotency-Key`` retries, and the audit trail of administrative acts (GDPR erasure).
API_KEYS_TABLE = "rox_api_keys"
IDEMPOTENCY_TABLE = "rox_idempotency"
AUDIT_TABLE = "rox_audit"
#: Every move of every case (opened, assigned, started, closed, reopened, escalated).
CASE_EVENTS_TABLE = "rox_case_events"
#: Survey forms shown (impressions), kept apart from the responses for a true response rate.
IMPRESSIONS_TABLE = "rox_impressions"
#: The service's outbound webhooks: one row per message to one endpoint (its outbox and delivery
#: log), written in the transaction of the event it announces (:mod:`rox.service.outbox`).
DELIVERIES_TABLE = "rox_webhook_deliveries"

#: Columns (ibis type strings) of the bookkeeping tables.
SYSTEM_TABLES: dict[str, dict[str, str]] = {
    LOADS_TABLE: {
        "load_id": "int64",
        "table_name": "string",
        "source": "string",
        "loaded_at": "timestamp('UTC')",
        "rows_read": "int64",
        "rows_loaded": "int64",
        "rows_rejected": "int64",
        "rows_skipped": "int64",
        # what was read: a SHA-256 of the file's bytes with the mapping and format (null for
        # data frames), so that the same file loaded again is recognised (rox.ingest.fingerprint)
        "fingerprint": "string",
        # a checksum of the load's rows as written (DuckDB workspaces; null elsewhere): the
        # fingerprint is trusted only while the table still holds those rows unchanged
        "checksum": "string",
    },
    REJECTS_TABLE: {
        "load_id": "int64",
        "table_name": "string",
        "source": "string",
        "row": "int64",
        "column": "string",
        "value": "string",
        "rule": "string",
        "record": "string",
    },
    SCALES_TABLE: {
        "metric": "string",
        "scale": "string",
        "low": "float64",
        "high": "float64",
        "top_from": "float64",
        "bottom_to": "float64",
    },
    SETTINGS_TABLE: {
        "key": "string",
        "value": "string",
        "set_at": "timestamp('UTC')",
    },
    API_KEYS_TABLE: {
        "key_id": "string",
        "name": "string",
        "scopes": "string",  # comma-separated: read, write, admin
        "key_hash": "string",  # SHA-256 of the whole key, hex; the key itself is never stored
        "created_at": "timestamp('UTC')",
        "revoked_at": "timestamp('UTC')",
    },
    IDEMPOTENCY_TABLE: {
        "principal": "string",  # the API key (key_id) that sent the request
        "idempotency_key": "string",
        "endpoint": "string",
        "request_hash": "string",  # SHA-256 of the request body
        "status": "int64",
        "answer": "string",  # the JSON answered
        "load_id": "int64",
        "created_at": "timestamp('UTC')",
    },
    AUDIT_TABLE: {
        "at": "timestamp('UTC')",
        "actor": "string",  # the API key (key_id), or 'cli'
        "action": "string",
        "subject": "string",  # for an erasure: SHA-256 of the customer id, never the id
        "detail": "string",  # JSON
    },
    CASE_EVENTS_TABLE: {
        "case_id": "string",
        "at": "timestamp('UTC')",
        "move": "string",
        "from_status": "string",
        "to_status": "string",
        "owner": "string",
        "detail": "string",
    },
    IMPRESSIONS_TABLE: {
        "invitation_id": "string",  # the invitation whose form was shown
        "customer_id": "string",
        "touchpoint": "string",
        "metric": "string",
        "language": "string",
        "shown_at": "timestamp('UTC')",
    },
    DELIVERIES_TABLE: {
        "delivery_id": "string",  # the message id, sent as webhook-id (stable across retries)
        "event_type": "string",  # response.created, case.opened, case.closed
        "endpoint": "string",  # the configured endpoint's name
        "url": "string",  # its URL when the delivery was made
        "payload": "string",  # the JSON body sent, byte for byte
        "customer_id": "string",  # whom the event is about (erased with them)
        "response_id": "string",  # the response it announces, or that opened the case
        "case_id": "string",
        "status": "string",  # pending, delivered, failed
        "attempts": "int64",
        "last_status_code": "int64",  # the HTTP status of the last attempt (null: no answer)
        "last_error": "string",
        "next_attempt_at": "timestamp('UTC')",  # when a pending delivery is tried next
        "replay_of": "string",  # the delivery this one replays
        "created_at": "timestamp('UTC')",
        "updated_at": "timestamp('UTC')",
        "delivered_at": "timestamp('UTC')",
    },
}

#: Columns a bookkeeping table gained after workspaces were made with it: opening a workspace for
#: writing adds those it lacks (as nulls for the rows it has).
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {LOADS_TABLE: ("fingerprint", "checksum")}

#: The tables of the journey index (:mod:`rox.journey.index`), by role: its record (``index``),
#: the ordered events (``events``) and the aggregates computed from them.
JOURNEY_INDEX_TABLES: dict[str, str] = {
    name: f"rox_journey_{name}"
    for name in ("index", "events", "summary", "edges", "steps", "variants")
}


@dataclass(frozen=True)
class DerivedTables:
    """Tables rox derives from a canonical table and rebuilds after each load of it.

    The data layer names the refresher instead of importing it: ingestion calls
    ``refresh`` (``"module:function"``, taking the workspace) after a load of ``source`` has
    committed, so that the analysis that owns the tables stays above the data layer.

    Attributes
    ----------
    name : str
        What the tables are, for messages.
    source : str
        The canonical table whose loads refresh them.
    tables : tuple of str
        The tables, all of them (dropped, listed and registered together).
    refresh : str
        ``"module:function"`` called as ``function(workspace)`` after a load of ``source``; it
        handles its own failures (the load stands whatever happens to the derived tables).
    rebuild : str
        How a user rebuilds them, for messages.
    """

    name: str
    source: str
    tables: tuple[str, ...]
    refresh: str
    rebuild: str


#: Every set of derived tables a workspace may hold.
DERIVED: tuple[DerivedTables, ...] = (
    DerivedTables(
        name="journey index",
        source="events",
        tables=tuple(JOURNEY_INDEX_TABLES.values()),
        refresh="rox.journey.index:refresh_after_load",
        rebuild="`rox journey index` (rox.journey.build_index)",
    ),
)

#: The names of all derived tables.
DERIVED_TABLES: tuple[str, ...] = tuple(t for d in DERIVED for t in d.tables)

#: The per-customer lifetime values :func:`rox.value.clv_table` keeps in the workspace.
CLV_TABLE = "rox_clv"
#: Tables an analysis writes its per-customer result to when asked (a snapshot, never refreshed:
#: writing it again replaces it).
RESULT_TABLES: tuple[str, ...] = (CLV_TABLE,)


def table_spec(name: str) -> TableSpec:
    """Return the spec of canonical table ``name``.

    Raises
    ------
    TableNotFoundError
        If ``name`` is not a canonical table.
    """
    from rox.errors import TableNotFoundError

    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLES)
        raise TableNotFoundError(
            f"unknown table {name!r}; the canonical tables are: {known}"
        ) from None


@dataclass(frozen=True)
class Scale:
    """The answer scale of a metric and where its categories start.

    Attributes
    ----------
    low, high : float
        Lowest and highest possible answer (inclusive).
    top_from : float
        Answers at or above this count as the good category: promoters (NPS), satisfied (CSAT),
        easy (CES).
    bottom_to : float | None
        NPS only: answers at or below this are detractors.

    Notes
    -----
    Defaults follow the usual conventions: NPS 0-10 (promoter 9-10, detractor 0-6; Reichheld
    2003), CSAT 1-5 with top-2-box satisfied (4-5), CES 1-7 with easy = 5-7 (CEB / Gartner CES 2.0).
    Other scales are declared, never guessed.
    """

    low: float
    high: float
    top_from: float
    bottom_to: float | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"scale low ({self.low}) must be below high ({self.high})")
        if not self.low <= self.top_from <= self.high:
            raise ValueError(
                f"top_from={self.top_from} is outside the scale {self.low}-{self.high}"
            )
        if self.bottom_to is not None and not self.low <= self.bottom_to < self.top_from:
            raise ValueError(
                f"bottom_to={self.bottom_to} must lie in {self.low}-{self.high} and below top_from"
            )

    @property
    def label(self) -> str:
        """The scale as stored in ``responses.scale``: ``'low-high'``."""
        return f"{_num(self.low)}-{_num(self.high)}"

    @classmethod
    def parse(cls, metric: str, label: str) -> Scale:
        """Return the scale stored as ``label`` for ``metric``, with default category cut-offs.

        Cut-offs for a non-default range keep the default rule: top-2-box for CSAT, top 3 points for
        CES; NPS must be on 0-10.
        """
        low_s, _, high_s = label.partition("-")
        low, high = float(low_s), float(high_s)
        default = DEFAULT_SCALES[metric]
        if (low, high) == (default.low, default.high):
            return default
        if metric == "nps":
            raise ValueError("NPS is defined on 0-10 only; declare its cut-offs explicitly")
        top_from = high - 1 if metric == "csat" else high - 2
        return cls(low, high, top_from)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


DEFAULT_SCALES: dict[str, Scale] = {
    "nps": Scale(0, 10, top_from=9, bottom_to=6, name="nps"),
    "csat": Scale(1, 5, top_from=4, name="csat"),
    "ces": Scale(1, 7, top_from=5, name="ces"),
}
