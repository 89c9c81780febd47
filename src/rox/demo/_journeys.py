"""Simulate customers' journeys: the purchase funnel, referrals, ownership and transactions.

Everything is vectorised over customers; the only Python loops run over the (ten) funnel steps.
Times are float seconds after the window's start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rox.demo import _catalog as cat
from rox.demo._effects import DemoEffects

#: Transaction product codes.
VEHICLE, SERVICE, ACCESSORIES = 0, 1, 2
PRODUCTS: tuple[str, ...] = ("vehicle", "service", "accessories")

_JOURNEY_PURCHASE, _JOURNEY_OWNERSHIP = 0, 1
_MAX_SERVICES = 40
_MAX_CALLS = 8
_NO_SHOW = 0.06


@dataclass
class Brand:
    """One chunk of simulated customers, as code arrays (times in seconds after the start)."""

    n: int
    cls: np.ndarray
    first_seen: np.ndarray
    segment: np.ndarray
    region: np.ndarray
    referrer: np.ndarray
    events: dict[str, np.ndarray]
    transactions: dict[str, np.ndarray]
    nps_invites: dict[str, np.ndarray]


def delay(
    rng: np.random.Generator, n: int, minimum: float, median: float, sigma: float
) -> np.ndarray:
    """Lognormal delays in seconds: ``minimum + median * exp(sigma * Z)``."""
    return minimum + median * np.exp(sigma * rng.standard_normal(n))


def channels(rng: np.random.Generator, steps: np.ndarray) -> np.ndarray:
    """Draw each event's channel from its step's channel mix."""
    u = rng.random(len(steps))
    out = np.zeros(len(steps), np.int8)
    for code in np.unique(steps):
        rows = steps == code
        pick = np.searchsorted(cat.STEP_CHANNEL_CDF[code], u[rows], side="right")
        out[rows] = np.minimum(pick, len(cat.CHANNELS) - 1)
    return out


class _Events:
    """Accumulates event blocks (customer, time, step, journey) before sorting."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray, int, int]] = []

    def add(self, cust: np.ndarray, t: np.ndarray, step: str, journey: int) -> None:
        self.blocks.append((cust, t, cat.STEP[step], journey))

    def frame(self, rng: np.random.Generator, end: float) -> dict[str, np.ndarray]:
        cust = np.concatenate([b[0] for b in self.blocks])
        t = np.concatenate([b[1] for b in self.blocks])
        step = np.concatenate([np.full(len(b[0]), b[2], np.int8) for b in self.blocks])
        journey = np.concatenate([np.full(len(b[0]), b[3], np.int8) for b in self.blocks])
        t = np.floor(t)
        keep = t < end
        cust, t, step, journey = cust[keep], t[keep], step[keep], journey[keep]
        order = _sort_order(cust, t, step)
        cust, t, step, journey = cust[order], t[order], step[order], journey[order]
        return {
            "cust": cust,
            "t": t,
            "step": step,
            "channel": channels(rng, step),
            "journey": journey,
        }


def _sort_order(cust: np.ndarray, t: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Order by customer, then time, then step (one packed int64 key when it fits)."""
    t_bits = max(int(t.max(initial=0)).bit_length(), 1)
    c_bits = max(int(cust.max(initial=0)).bit_length(), 1)
    if c_bits + t_bits + 5 > 62:
        return np.lexsort((step, t, cust))
    key = (cust.astype(np.int64) << (t_bits + 5)) | (t.astype(np.int64) << 5) | step
    return np.argsort(key, kind="stable")


def simulate(rng: np.random.Generator, n: int, end: float, eff: DemoEffects) -> Brand:
    """Simulate ``n`` customers acquired over ``[0, end)`` seconds.

    Parameters
    ----------
    rng : numpy.random.Generator
        The chunk's random stream.
    n : int
        Number of customers.
    end : float
        End of the observation window, in seconds after its start.
    eff : DemoEffects
        The planted effects.

    Returns
    -------
    Brand
    """
    cls = rng.choice(3, size=n, p=eff.class_p).astype(np.int8)
    segment = rng.choice(len(cat.SEGMENTS), size=n, p=cat.SEGMENT_P).astype(np.int8)
    region = rng.choice(len(cat.REGIONS), size=n, p=cat.REGION_P).astype(np.int8)
    first_seen = np.floor(rng.random(n) * (end - 90 * cat.DAY))
    referred = rng.random(n) < eff.referral_share
    organic = referred | (rng.random(n) < eff.organic_share)

    events = _Events()
    times = _funnel(rng, n, first_seen, organic, end, eff, events)
    purchase, delivery = times[cat.STEP["purchase"]], times[cat.STEP["delivery"]]
    referrer = _referrals(rng, cls, first_seen, purchase, referred, eff)

    tx = _Transactions()
    buyers = np.flatnonzero(~np.isnan(purchase))
    tx.add(buyers, purchase[buyers], VEHICLE, _vehicle_price(rng, segment[buyers]), 1.0)
    owners = np.flatnonzero(~np.isnan(delivery))
    invites = _ownership(rng, owners, delivery[owners], cls[owners], segment, end, eff, events, tx)

    post = delay(rng, len(buyers), 600.0, 2 * cat.DAY, 0.8)
    invites = {
        "cust": np.concatenate([buyers, invites["cust"]]),
        "t": np.concatenate([purchase[buyers] + post, invites["t"]]),
        "touchpoint": np.concatenate(
            [
                np.full(len(buyers), cat.TOUCHPOINT["purchase"], np.int16),
                invites["touchpoint"],
            ]
        ),
    }
    return Brand(
        n=n,
        cls=cls,
        first_seen=first_seen,
        segment=segment,
        region=region,
        referrer=referrer,
        events=events.frame(rng, end),
        transactions=tx.frame(rng, end),
        nps_invites=invites,
    )


def _funnel(
    rng: np.random.Generator,
    n: int,
    first_seen: np.ndarray,
    organic: np.ndarray,
    end: float,
    eff: DemoEffects,
    events: _Events,
) -> np.ndarray:
    """Walk every customer down the purchase funnel; return step times (NaN = not reached)."""
    times = np.full((len(cat.FUNNEL_STEPS), n), np.nan)
    start_step = organic.astype(np.int8)  # 0: ad_click, 1: website_visit
    for k, step in enumerate(cat.FUNNEL_STEPS):
        starts = start_step == k
        if k == 0:
            t = np.where(starts, first_seen, np.nan)
        else:
            go_on = rng.random(n) < eff.funnel_continue[k - 1]
            later = times[k - 1] + delay(rng, n, *cat.FUNNEL_DELAYS[k])
            t = np.where(starts, first_seen, np.where(go_on, later, np.nan))
        t[t >= end] = np.nan
        times[k] = t
        reached = np.flatnonzero(~np.isnan(t))
        events.add(reached, t[reached], step, _JOURNEY_PURCHASE)
    return times


def _referrals(
    rng: np.random.Generator,
    cls: np.ndarray,
    first_seen: np.ndarray,
    purchase: np.ndarray,
    referred: np.ndarray,
    eff: DemoEffects,
) -> np.ndarray:
    """Pick each referred customer's referrer among earlier buyers, weighted by loyalty class.

    Returns the referrer's index in the chunk, or -1.
    """
    referrer = np.full(len(cls), -1, dtype=np.int64)
    buyers = np.flatnonzero(~np.isnan(purchase))
    if len(buyers) == 0:
        return referrer
    buyers = buyers[np.argsort(purchase[buyers], kind="stable")]
    ready = purchase[buyers] + 7 * cat.DAY
    cum_weight = np.cumsum(np.asarray(eff.referral_weight)[cls[buyers]])
    who = np.flatnonzero(referred)
    eligible = np.searchsorted(ready, first_seen[who], side="left")
    who, eligible = who[eligible > 0], eligible[eligible > 0]
    draw = rng.random(len(who)) * cum_weight[eligible - 1]
    pick = np.minimum(np.searchsorted(cum_weight, draw, side="right"), eligible - 1)
    referrer[who] = buyers[pick]
    return referrer


class _Transactions:
    """Accumulates transaction blocks before sorting."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("cust", "t", "product", "amount")}
        self.cols["quantity"] = []

    def add(
        self,
        cust: np.ndarray,
        t: np.ndarray,
        product: int,
        amount: np.ndarray,
        quantity: float | np.ndarray,
    ) -> None:
        self.cols["cust"].append(cust)
        self.cols["t"].append(t)
        self.cols["product"].append(np.full(len(cust), product, np.int8))
        self.cols["amount"].append(amount)
        self.cols["quantity"].append(np.broadcast_to(np.asarray(quantity, float), len(cust)))

    def frame(self, rng: np.random.Generator, end: float) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.cols.items()}
        out["t"] = np.floor(out["t"])
        keep = out["t"] < end
        out = {k: v[keep] for k, v in out.items()}
        order = np.lexsort((out["t"], out["cust"]))
        out = {k: v[order] for k, v in out.items()}
        web_app_dealer = rng.choice(
            [cat.CHANNEL["web"], cat.CHANNEL["app"], cat.CHANNEL["dealer"]],
            size=len(order),
            p=[0.4, 0.2, 0.4],
        )
        out["channel"] = np.where(
            out["product"] == ACCESSORIES, web_app_dealer, cat.CHANNEL["dealer"]
        ).astype(np.int8)
        out["amount"] = np.round(out["amount"], 2)
        return out


def _vehicle_price(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    return np.asarray(
        38_000.0
        * np.asarray(cat.SEGMENT_PRICE)[segment]
        * np.exp(0.2 * rng.standard_normal(len(segment)))
    )


def _ownership(
    rng: np.random.Generator,
    owners: np.ndarray,
    delivered: np.ndarray,
    cls: np.ndarray,
    segment: np.ndarray,
    end: float,
    eff: DemoEffects,
    events: _Events,
    tx: _Transactions,
) -> dict[str, np.ndarray]:
    """Simulate life after delivery; return the yearly NPS invitations."""
    m = len(owners)
    detractor = cls == cat.DETRACTOR
    lifetime = np.asarray(eff.lifetime_years)[cls] * cat.YEAR
    active_end = np.minimum(delivered + rng.exponential(lifetime), end)
    rate = np.where(detractor, eff.detractor_rate_ratio, 1.0)

    onboard = rng.random(m) < 0.7
    t = delivered[onboard] + delay(rng, int(onboard.sum()), 600.0, 2 * cat.DAY, 1.0)
    events.add(owners[onboard], t, "app_onboarding", _JOURNEY_OWNERSHIP)

    acc = rng.random(m) < eff.accessory_p * rate
    t = delivered[acc] + delay(rng, int(acc.sum()), 3_600.0, 3 * cat.DAY, 1.0)
    tx.add(owners[acc], t, ACCESSORIES, *_accessories(rng, int(acc.sum())))

    # Service visits: a Poisson process while the owner is active, at a rate that varies across
    # owners (Gamma-distributed, halved for detractors). Visits are as irregular as the
    # buy-till-you-die models assume, so lapsed owners show as long silences (a regular schedule
    # would hide dropout: every owner's gap would look the same).
    mean_rate = rate / (eff.service_interval_days * cat.DAY)
    shape = eff.service_rate_shape
    owner_rate = rng.gamma(shape, mean_rate / shape)
    gaps = rng.exponential(1.0, size=(m, _MAX_SERVICES)) / owner_rate[:, None]
    visit_at = delivered[:, None] + np.cumsum(gaps, axis=1)
    row, _ = np.nonzero(visit_at < active_end[:, None])
    visit_t = visit_at[visit_at < active_end[:, None]]
    booked = visit_t - delay(rng, len(row), cat.DAY, 4 * cat.DAY, 0.6)
    booked = np.maximum(booked, (delivered[row] + visit_t) / 2)
    events.add(owners[row], booked, "service_booking", _JOURNEY_OWNERSHIP)
    shows = rng.random(len(row)) >= _NO_SHOW
    row, visit_t = row[shows], visit_t[shows]
    events.add(owners[row], visit_t, "service_visit", _JOURNEY_OWNERSHIP)
    price = 320.0 * np.exp(0.5 * rng.standard_normal(len(row)))
    tx.add(owners[row], visit_t + 1_800.0, SERVICE, price, 1.0)
    acc = rng.random(len(row)) < eff.accessory_p * rate[row]
    tx.add(
        owners[row[acc]], visit_t[acc] + 2_400.0, ACCESSORIES, *_accessories(rng, int(acc.sum()))
    )

    # Support calls over the active life, some escalating to complaints.
    years = np.maximum(active_end - delivered, 0.0) / cat.YEAR
    calls = np.minimum(rng.poisson(np.asarray(eff.support_rate)[cls] * years), _MAX_CALLS)
    row = np.repeat(np.arange(m), calls)
    call_t = delivered[row] + rng.random(len(row)) * (active_end - delivered)[row]
    events.add(owners[row], call_t, "support_call", _JOURNEY_OWNERSHIP)
    esc = rng.random(len(row)) < np.asarray(eff.complaint_p)[cls[row]]
    t = call_t[esc] + delay(rng, int(esc.sum()), 3_600.0, cat.DAY, 0.8)
    events.add(owners[row[esc]], t, "complaint", _JOURNEY_OWNERSHIP)

    # Repurchase 1.5-3 years after delivery, while still active.
    again_t = delivered + (1.5 + 1.5 * rng.random(m)) * cat.YEAR
    again = (rng.random(m) < np.asarray(eff.repurchase_p)[cls]) & (again_t < active_end)
    events.add(owners[again], again_t[again], "repurchase", _JOURNEY_OWNERSHIP)
    cust = owners[again]
    tx.add(cust, again_t[again] + 600.0, VEHICLE, _vehicle_price(rng, segment[cust]), 1.0)

    # Yearly relationship NPS invitations while active.
    k = np.arange(1, 4)
    invite_at = delivered[:, None] + k * cat.YEAR + rng.normal(0.0, 10 * cat.DAY, size=(m, 3))
    live = invite_at < active_end[:, None]
    row, _ = np.nonzero(live)
    return {
        "cust": owners[row],
        "t": invite_at[live],
        "touchpoint": np.full(len(row), cat.TOUCHPOINT[cat.RELATIONSHIP], np.int16),
    }


def _accessories(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    quantity = rng.integers(1, 4, size=n).astype(float)
    return quantity * 110.0 * np.exp(0.6 * rng.standard_normal(n)), quantity
