"""Generate the demo brand: a seeded synthetic car maker with planted, known effects.

The brand sells vehicles, service and accessories. Customers walk an omnichannel purchase funnel
(ad click to delivery), buyers then own the car (app onboarding, service, support, complaints,
repurchase), and answer CSAT, CES and NPS surveys along the way. The effects listed in
:data:`rox.demo.PLANTED` are planted with the sizes in :class:`rox.demo.DemoEffects`, so that every
analysis has a known answer to find.

Generation is vectorised with numpy and runs in chunks of customers, so memory stays bounded at
any size; the same seed always builds the same brand.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rox.demo import _catalog as cat
from rox.demo._effects import DemoEffects
from rox.demo._journeys import PRODUCTS, Brand, simulate
from rox.demo._outreach import OUTREACH_STREAM, outreach
from rox.demo._surveys import METRICS, NPS, SCALES, responses
from rox.demo._voice import STREAM, plant

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["generate", "generate_chunks"]

#: Tables generated, in load order.
TABLE_NAMES: tuple[str, ...] = ("customers", "transactions", "events", "responses", "cases")

_SESSION_GAP = 30 * 60.0  # seconds of inactivity that end a session
_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def generate(
    n_customers: int = 20_000,
    seed: int = 7,
    start: str = "2023-01-01",
    months: int = 36,
    *,
    effects: DemoEffects | None = None,
) -> dict[str, pd.DataFrame]:
    """Generate the demo brand in memory.

    Parameters
    ----------
    n_customers : int, default 20_000
        Number of customers.
    seed : int, default 7
        Random seed; the same seed gives identical frames.
    start : str, default "2023-01-01"
        First day of the observation window (UTC).
    months : int, default 36
        Length of the window, in months.
    effects : DemoEffects, optional
        Sizes of the planted effects (default: ``DemoEffects()``).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``customers``, ``transactions``, ``events``, ``responses`` and ``cases`` (the past
        closed loop, :mod:`rox.demo._outreach`), with the canonical columns of
        :data:`rox.schema.TABLES` (times tz-aware UTC) plus ``customers.referred_by`` and
        ``responses.segment``. The loop's service visits and follow-up answers come after the
        simulated rows of each chunk. Equal to the concatenated :func:`generate_chunks` output.

    Examples
    --------
    >>> from rox.demo import generate
    >>> frames = generate(2_000, seed=7)
    >>> sorted(frames)
    ['cases', 'customers', 'events', 'responses', 'transactions']
    >>> len(frames["customers"])
    2000
    """
    chunks = list(generate_chunks(n_customers, seed, start=start, months=months, effects=effects))
    if len(chunks) == 1:
        return chunks[0]
    return {name: pd.concat([c[name] for c in chunks], ignore_index=True) for name in TABLE_NAMES}


def generate_chunks(
    n_customers: int,
    seed: int = 7,
    chunk_size: int = 250_000,
    *,
    start: str = "2023-01-01",
    months: int = 36,
    effects: DemoEffects | None = None,
) -> Iterator[dict[str, pd.DataFrame]]:
    """Generate the demo brand chunk by chunk, ``chunk_size`` customers at a time.

    Customer ids are unique across chunks; chunk ``i`` draws from its own random stream seeded
    with ``(seed, i)``, so the output is deterministic given ``seed`` and ``chunk_size``.
    Referrals link customers within a chunk.

    Parameters
    ----------
    n_customers : int
        Number of customers in all.
    seed : int, default 7
        Random seed.
    chunk_size : int, default 250_000
        Customers per chunk (the last chunk may be smaller).
    start, months, effects
        As in :func:`generate`.

    Yields
    ------
    dict of str to pandas.DataFrame
        The tables of one chunk, as returned by :func:`generate`.
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be positive, got {n_customers}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    eff = effects if effects is not None else DemoEffects()
    t0 = pd.Timestamp(start, tz="UTC")
    end = (t0 + pd.DateOffset(months=months) - t0).total_seconds()
    change = (t0 + pd.DateOffset(months=eff.service_change_month) - t0).total_seconds()
    launch = (t0 + pd.DateOffset(months=eff.initiative_month) - t0).total_seconds()
    origin = np.datetime64(t0.tz_localize(None), "s")
    for i in range(math.ceil(n_customers / chunk_size)):
        offset = i * chunk_size
        n = min(chunk_size, n_customers - offset)
        rng = np.random.default_rng([seed, i])
        brand = simulate(rng, n, end, eff)
        answers = responses(rng, brand, end, change, eff)
        # the planted comment themes draw from their own stream: nothing else changes (#18);
        # before the initiative, so that the comments do not depend on whether it runs
        voice = np.random.default_rng([seed, i, STREAM])
        answers["planted"], answers["planted_language"] = plant(
            voice, answers["comment"], answers["metric"], answers["score"], answers["touchpoint"]
        )
        # (its own stream, so that every other row of the brand is drawn as before)
        _initiative(
            np.random.default_rng([seed, i, _INITIATIVE_STREAM]), brand, answers, launch, eff
        )
        frames = _frames(brand, answers, offset, origin)
        # the past closed loop, from its own stream: the tables above keep their rows
        loop = outreach(
            np.random.default_rng([seed, i, OUTREACH_STREAM]),
            frames,
            t0,
            t0 + pd.DateOffset(months=months),
            eff,
        )
        frames["cases"] = loop["cases"]
        for name in ("transactions", "responses"):
            frames[name] = pd.concat([frames[name], loop[name]], ignore_index=True)
        yield frames


#: The third seed word of the initiative's own random stream.
_INITIATIVE_STREAM = 16


def _initiative(
    rng: np.random.Generator,
    brand: Brand,
    answers: dict[str, np.ndarray],
    launch: float,
    eff: DemoEffects,
) -> None:
    """Plant the family care plan (``PLANTED["family_care"]``) in place.

    From ``launch`` on, each NPS answer of a customer of the treated segment moves up one class
    (detractor to passive, passive to promoter, its score redrawn from that class's scores) with
    chance ``eff.initiative_nps_lift``, and the customer's service and accessory amounts are
    multiplied by ``1 + eff.initiative_spend_lift``.
    """
    treated = brand.segment == cat.SEGMENTS.index(eff.initiative_segment)
    nps = (answers["metric"] == NPS) & (answers["t"] >= launch) & treated[answers["cust"]]
    idx = np.flatnonzero(nps)
    score = answers["score"][idx]
    up = rng.random(len(idx)) < eff.initiative_nps_lift
    pick = rng.random(len(idx))
    # (passive answers are 7 or 8, promoter answers 9 or 10: as _surveys draws them)
    to_passive = up & (score <= 6)
    to_promoter = up & (score >= 7) & (score <= 8)
    score = np.where(to_passive, np.where(pick < 0.5, 7.0, 8.0), score)
    score = np.where(to_promoter, np.where(pick < 0.45, 9.0, 10.0), score)
    answers["score"][idx] = score
    tx = brand.transactions
    lifted = (
        (tx["t"] >= launch) & treated[tx["cust"]] & (tx["product"] != PRODUCTS.index("vehicle"))
    )
    tx["amount"] = np.where(
        lifted, np.round(tx["amount"] * (1 + eff.initiative_spend_lift), 2), tx["amount"]
    )


def _frames(
    brand: Brand, answers: dict[str, np.ndarray], offset: int, origin: np.datetime64
) -> dict[str, pd.DataFrame]:
    """Turn the simulated code arrays into the canonical tables."""
    numbers = pa.array(np.arange(offset + 1, offset + brand.n + 1)).cast(pa.string())
    cid = pc.binary_join_element_wise("C", pc.utf8_lpad(numbers, 8, "0"), "")

    customers = pd.DataFrame(
        {
            "customer_id": _str(cid),
            "first_seen": _ts(origin, brand.first_seen),
            "segment": _labels(cat.SEGMENTS, brand.segment),
            "region": _labels(cat.REGIONS, brand.region),
            "referred_by": _str(cid.take(pa.array(brand.referrer, mask=brand.referrer < 0))),
        }
    )

    tx = brand.transactions
    tx_cid = cid.take(tx["cust"])
    transactions = pd.DataFrame(
        {
            "customer_id": _str(tx_cid),
            "ts": _ts(origin, tx["t"]),
            "amount": tx["amount"],
            "order_id": _suffixed(tx_cid, "-o", _rank(tx["cust"])),
            "channel": _labels(cat.CHANNELS, tx["channel"]),
            "product": _labels(PRODUCTS, tx["product"]),
            "quantity": tx["quantity"],
        }
    )

    ev = brand.events
    ev_cid = cid.take(ev["cust"])
    gap = np.diff(ev["t"], prepend=-np.inf) > _SESSION_GAP
    new_session = _group_starts(ev["cust"]) | gap
    journey = pa.array(["purchase-1", "ownership-1"]).take(ev["journey"])
    events = pd.DataFrame(
        {
            "customer_id": _str(ev_cid),
            "ts": _ts(origin, ev["t"]),
            "step": _labels(cat.STEPS, ev["step"]),
            "channel": _labels(cat.CHANNELS, ev["channel"]),
            "session_id": _suffixed(ev_cid, "-s", _rank(ev["cust"], new_session)),
            "journey": _str(pc.binary_join_element_wise(ev_cid, journey, "-")),
        }
    )

    r_cid = cid.take(answers["cust"])
    metric = answers["metric"]
    comment = answers["comment"]
    texts = cat.COMMENTS_ARROW.take(pa.array(comment, mask=comment < 0))
    language = pa.array(np.full(len(metric), "en", dtype=object), type=pa.string())
    planted = answers.get("planted")
    if planted is not None:
        mask = pa.array(planted != None)  # noqa: E711 (element-wise)
        texts = pc.if_else(mask, pa.array(planted, type=pa.string()), texts)
        language = pc.if_else(
            mask, pa.array(answers["planted_language"], type=pa.string()), language
        )
    frame = pd.DataFrame(
        {
            "ts": _ts(origin, answers["t"]),
            "metric": _labels(METRICS, metric),
            "score": answers["score"],
            "response_id": _suffixed(r_cid, "-r", _rank(answers["cust"])),
            "customer_id": _str(r_cid),
            "scale": _labels(SCALES, metric),
            "touchpoint": _labels(cat.TOUCHPOINTS, answers["touchpoint"]),
            "channel": _labels(cat.CHANNELS, answers["channel"]),
            "comment": _str(texts),
            "language": _str(language),
            "weight": np.ones(len(metric)),
            "segment": _labels(cat.SEGMENTS, brand.segment[answers["cust"]]),
        }
    )
    return {
        "customers": customers,
        "transactions": transactions,
        "events": events,
        "responses": frame,
    }


def _str(values: pa.Array) -> pd.api.extensions.ExtensionArray:
    """Pandas' default string column (Arrow-backed, NaN for missing) over Arrow strings.

    ``pd.array`` rather than the ``ArrowStringArray`` constructor, whose signature differs
    between pandas 2 and 3.
    """
    return pd.array(values, dtype=_STR)


def _labels(names: tuple[str, ...], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """String column of ``names[codes]``."""
    return _str(pa.array(names, type=pa.string()).take(codes))


def _ts(origin: np.datetime64, seconds: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps ``seconds`` after ``origin``."""
    naive = origin + seconds.astype(np.int64).astype("timedelta64[s]")
    return pd.DatetimeIndex(naive.astype("datetime64[us]")).tz_localize("UTC")


def _group_starts(cust: np.ndarray) -> np.ndarray:
    """True where a new customer starts in an array sorted by customer."""
    starts = np.ones(len(cust), dtype=bool)
    starts[1:] = cust[1:] != cust[:-1]
    return starts


def _rank(cust: np.ndarray, step: np.ndarray | None = None) -> np.ndarray:
    """1-based running count per customer of rows (or of rows where ``step`` is True)."""
    starts = _group_starts(cust)
    counts = np.cumsum(np.ones(len(cust), np.int64) if step is None else step)
    idx = np.arange(len(cust))
    first = np.maximum.accumulate(np.where(starts, idx, 0))
    before = counts[first] - (1 if step is None else step[first])
    return np.asarray(counts - before)


def _suffixed(ids: pa.Array, sep: str, number: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``'<id><sep><number>'`` per row."""
    return _str(pc.binary_join_element_wise(ids, pa.array(number).cast(pa.string()), sep))
