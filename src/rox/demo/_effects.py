"""The effects planted in the demo brand, in words and in numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from rox.demo import _catalog as cat

__all__ = ["CLASS_SCORE_SHIFT", "PLANTED", "DemoEffects"]

CLASS_SCORE_SHIFT: dict[str, float] = {
    "dealer_visit": 1.0,
    "financing": 0.6,
    "configurator": 0.5,
    "test_drive_visit": 0.4,
    "delivery": 0.3,
    "service_booking": 0.2,
    "service_visit": 0.1,
    "support_call": 0.0,
}
"""Chance that a CSAT or CES answer at each touchpoint moves one point with the loyalty class.

The planted driver order (#16). The values are far apart because the past closed loop
(:mod:`rox.demo._outreach`) also ties low CSAT to NPS: a low answer opens a case whose follow-up
NPS answer is mostly low, which adds correlation at the touchpoints with many low answers
(financing) and before the purchase (where a follow-up is often the customer's only NPS answer).
"""

PLANTED: dict[str, str] = {
    "financing_friction": (
        "The financing step hurts: CSAT there averages about 3.0 of 5 against about 4.1 at the "
        "other touchpoints, CES about 3.6 of 7 against about 5.3, and half of the customers who "
        "reach financing never purchase, the steepest drop-off of the funnel."
    ),
    "detractors_buy_less": (
        "Detractors (latent NPS 0-6) come back for service and accessories at half the rate of "
        "other owners and stop transacting sooner (mean active life 1.25 years against 3-4 years)."
    ),
    "promoters_refer": (
        "Promoters refer about 3 times as many new customers as passives, detractors almost none "
        "(customers.referred_by names the referrer)."
    ),
    "driver_order": (
        "CSAT and CES answers move one point with the customer's loyalty class (a promoter's "
        "up, a detractor's down) with a chance that depends on the touchpoint: 1.0 at the "
        "dealer visit, 0.6 at financing, 0.5 at the configurator, 0.4 at the test drive, 0.3 "
        "at delivery, 0.2 at service booking, 0.1 at the service visit and 0 at support calls, "
        "so key drivers of NPS rank the CSAT touchpoints in that order."
    ),
    "service_change": (
        "A service change in month 19 (July 2024 with the default start) lifts NPS by about 11 "
        "points and service-visit CSAT by about 0.25 for every response given from then on."
    ),
    "family_care": (
        "An initiative, the family care plan, starts in month 25 (2025-01-01 with the default "
        "start) for the family segment only: from then on each NPS answer of a family customer "
        "moves up one class with chance 0.8 (about +25 NPS points), and their service and "
        "accessory purchases are worth half as much again (x1.5); the other segments are its "
        "untreated control (examples/initiative.toml)."
    ),
    "recovery_calls_save": (
        "From month 6 to month 30 every detractor (NPS 0-6) and low CSAT (1-2) opened a case; 20% "
        "were held out at random (no call). A call saves high-value customers (revenue before "
        "the trigger at least 20,000: vehicle owners) who would not have bought again within "
        "180 days with probability 0.7 (a service visit follows, and a promoter's follow-up "
        "answer); it changes nothing for anyone else (sure things, lost causes)."
    ),
}
"""One sentence per planted effect, keyed by the effect's name."""


@dataclass(frozen=True)
class DemoEffects:
    """The numbers behind the planted effects (and the brand's other behaviour).

    Probabilities are per customer (or per event) and in [0, 1]; durations are in days or years as
    named. The defaults are what :func:`rox.demo.generate` uses.

    Attributes
    ----------
    class_p : tuple of float
        Share of promoters, passives and detractors (the latent attitude NPS measures).
    class_noise : float
        Chance an NPS answer reflects a random class rather than the customer's own.
    funnel_continue : tuple of float
        Chance of going on from each funnel step to the next (ad_click → website_visit, ...,
        purchase → delivery). Financing → purchase is the planted friction.
    organic_share : float
        Share of non-referred customers who start at the website instead of an ad click.
    csat_p, csat_p_financing : tuple of float
        Probabilities of CSAT 1..5 at most touchpoints and after financing.
    ces_p, ces_p_financing : tuple of float
        Probabilities of CES 1..7 at most touchpoints and after financing.
    class_score_shift : dict of str to float
        Per touchpoint (every step of the CSAT and CES surveys), the chance a promoter's CSAT/CES
        answer there is one point higher (a detractor's one point lower): the planted driver
        order, :data:`CLASS_SCORE_SHIFT` by default.
    response_rate : tuple of float
        Chance of answering the CSAT, CES and NPS surveys.
    comment_rate : float
        Chance an answer carries a comment.
    service_interval_days : float
        Mean days between service visits of a promoter or passive (visits are a Poisson process
        while the owner is active).
    service_rate_shape : float
        Shape of the Gamma distribution of owners' service rates (smaller: more heterogeneous).
    detractor_rate_ratio : float
        Detractors' service and accessory purchase rate relative to other owners.
    lifetime_years : tuple of float
        Mean active life after delivery of promoters, passives and detractors (exponential).
    accessory_p : float
        Chance of an accessory purchase at delivery and at each service visit.
    support_rate : tuple of float
        Support calls per active year of promoters, passives and detractors.
    complaint_p : tuple of float
        Chance a support call turns into a complaint, by class.
    repurchase_p : tuple of float
        Chance of buying another vehicle 1.5–3 years after delivery, by class.
    referral_share : float
        Share of customers who come by referral (when an earlier buyer exists).
    referral_weight : tuple of float
        Relative chance of being the referrer for promoters, passives and detractors.
    service_change_month : int
        Months after the start when the service change lands (0-based: 18 is the 19th month).
    nps_lift : float
        From the service change on, chance an NPS answer moves up one class.
    service_csat_lift : float
        From the service change on, chance a service-visit CSAT answer is one point higher.
    initiative_month : int
        Months after the start when the family care plan starts (0-based: 24 is the 25th month).
    initiative_segment : str
        The segment it treats.
    initiative_nps_lift : float
        From its start, chance a treated customer's NPS answer moves up one class.
    initiative_spend_lift : float
        From its start, the treated customers' service and accessory amounts are multiplied by
        ``1 + initiative_spend_lift``.
    outreach_holdout : float
        Share of the past loop's cases held out at random (no recovery call).
    responder_value : float
        Revenue before the trigger (brand's currency) from which a call can save a customer.
    save_p : float
        Chance a call saves a responder who would not have bought again within 180 days.
    follow_up_rate : float
        Chance a case's customer answers the follow-up NPS survey (30-90 days after it opened).
    """

    class_p: tuple[float, float, float] = (0.45, 0.30, 0.25)
    class_noise: float = 0.10
    funnel_continue: tuple[float, ...] = (0.90, 0.85, 0.75, 0.90, 0.90, 0.90, 0.85, 0.50, 0.98)
    organic_share: float = 0.15
    csat_p: tuple[float, ...] = (0.03, 0.05, 0.12, 0.38, 0.42)
    csat_p_financing: tuple[float, ...] = (0.15, 0.22, 0.30, 0.23, 0.10)
    ces_p: tuple[float, ...] = (0.02, 0.03, 0.07, 0.13, 0.25, 0.30, 0.20)
    ces_p_financing: tuple[float, ...] = (0.12, 0.18, 0.22, 0.20, 0.15, 0.08, 0.05)
    class_score_shift: dict[str, float] = field(default_factory=lambda: dict(CLASS_SCORE_SHIFT))
    response_rate: tuple[float, float, float] = (0.35, 0.30, 0.40)
    comment_rate: float = 0.5
    service_interval_days: float = 180.0
    service_rate_shape: float = 2.0
    detractor_rate_ratio: float = 0.5
    lifetime_years: tuple[float, float, float] = (4.0, 3.0, 1.25)
    accessory_p: float = 0.3
    support_rate: tuple[float, float, float] = (0.3, 0.5, 1.0)
    complaint_p: tuple[float, float, float] = (0.05, 0.15, 0.40)
    repurchase_p: tuple[float, float, float] = (0.25, 0.12, 0.03)
    referral_share: float = 0.15
    referral_weight: tuple[float, float, float] = (3.0, 1.0, 0.05)
    service_change_month: int = 18
    nps_lift: float = 0.2
    service_csat_lift: float = 0.3
    initiative_month: int = 24
    initiative_segment: str = "family"
    initiative_nps_lift: float = 0.8
    initiative_spend_lift: float = 0.5
    outreach_holdout: float = 0.2
    responder_value: float = 20_000.0
    save_p: float = 0.7
    follow_up_rate: float = 0.4

    def __post_init__(self) -> None:
        if len(self.funnel_continue) != 9:
            raise ValueError("funnel_continue needs one chance per funnel transition (9)")
        for name in ("csat_p", "csat_p_financing", "ces_p", "ces_p_financing", "class_p"):
            probs = getattr(self, name)
            if abs(sum(probs) - 1.0) > 1e-9:
                raise ValueError(f"{name} must sum to 1, got {sum(probs)}")
        steps = set(cat.CSAT_STEPS) | set(cat.CES_STEPS)
        if set(self.class_score_shift) != steps:
            raise ValueError(
                "class_score_shift needs one chance per CSAT/CES touchpoint "
                f"({', '.join(sorted(steps))}), got {', '.join(sorted(self.class_score_shift))}"
            )
        for step, chance in self.class_score_shift.items():
            if not 0.0 <= chance <= 1.0:
                raise ValueError(f"class_score_shift[{step!r}] must be in [0, 1], got {chance}")
