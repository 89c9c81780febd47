"""Fixed vocabulary of the demo brand: journey steps, channels, segments, delays and comments."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

DAY = 86_400.0
"""Seconds in a day."""
YEAR = 365.25 * DAY
"""Seconds in a year."""

FUNNEL_STEPS: tuple[str, ...] = (
    "ad_click",
    "website_visit",
    "configurator",
    "test_drive_booking",
    "test_drive_visit",
    "dealer_visit",
    "quote",
    "financing",
    "purchase",
    "delivery",
)
"""The purchase journey, in order."""

OWNERSHIP_STEPS: tuple[str, ...] = (
    "app_onboarding",
    "service_booking",
    "service_visit",
    "support_call",
    "complaint",
    "repurchase",
)
"""Steps of the ownership journey that follows delivery."""

STEPS: tuple[str, ...] = FUNNEL_STEPS + OWNERSHIP_STEPS
STEP = {name: code for code, name in enumerate(STEPS)}

CHANNELS: tuple[str, ...] = ("web", "app", "dealer", "phone", "email", "ads")
CHANNEL = {name: code for code, name in enumerate(CHANNELS)}

SEGMENTS: tuple[str, ...] = ("family", "premium", "fleet", "young_urban")
SEGMENT_P = (0.35, 0.20, 0.15, 0.30)
#: Vehicle price multiplier per segment.
SEGMENT_PRICE = (1.0, 1.6, 0.9, 0.8)
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
REGION_P = (0.22, 0.24, 0.16, 0.20, 0.18)

#: Loyalty classes (the latent attitude the NPS survey measures).
PROMOTER, PASSIVE, DETRACTOR = 0, 1, 2

_STEP_CHANNELS: dict[str, dict[str, float]] = {
    "ad_click": {"ads": 1.0},
    "website_visit": {"web": 0.75, "app": 0.25},
    "configurator": {"web": 0.8, "app": 0.2},
    "test_drive_booking": {"web": 0.5, "app": 0.15, "phone": 0.2, "dealer": 0.15},
    "test_drive_visit": {"dealer": 1.0},
    "dealer_visit": {"dealer": 1.0},
    "quote": {"dealer": 0.6, "email": 0.4},
    "financing": {"dealer": 0.6, "web": 0.25, "phone": 0.15},
    "purchase": {"dealer": 1.0},
    "delivery": {"dealer": 1.0},
    "app_onboarding": {"app": 1.0},
    "service_booking": {"app": 0.45, "web": 0.3, "phone": 0.25},
    "service_visit": {"dealer": 1.0},
    "support_call": {"phone": 1.0},
    "complaint": {"email": 0.5, "phone": 0.3, "web": 0.2},
    "repurchase": {"dealer": 1.0},
}


def _channel_cdf() -> np.ndarray:
    out = np.zeros((len(STEPS), len(CHANNELS)))
    for name, probs in _STEP_CHANNELS.items():
        for channel, p in probs.items():
            out[STEP[name], CHANNEL[channel]] = p
    return np.cumsum(out, axis=1)


#: Cumulative channel probabilities, one row per step code.
STEP_CHANNEL_CDF = _channel_cdf()

#: Delay into each funnel step from the previous one: (minimum, median, log-sd), seconds.
FUNNEL_DELAYS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),  # ad_click starts the journey
    (10.0, 60.0, 0.8),  # website_visit, a minute after the click
    (60.0, 3_600.0, 2.0),  # configurator, minutes to days later
    (3_600.0, 4 * DAY, 1.0),  # test_drive_booking
    (DAY, 5 * DAY, 0.5),  # test_drive_visit
    (3_600.0, 3 * DAY, 1.0),  # dealer_visit
    (600.0, 2 * 3_600.0, 0.7),  # quote, the same day
    (3_600.0, 3 * DAY, 0.8),  # financing
    (3_600.0, 5 * DAY, 0.7),  # purchase
    (7 * DAY, 30 * DAY, 0.4),  # delivery
)

#: Survey touchpoints: step -> metrics asked after it.
CSAT_STEPS: tuple[str, ...] = (
    "test_drive_visit",
    "dealer_visit",
    "financing",
    "delivery",
    "service_visit",
    "support_call",
)
CES_STEPS: tuple[str, ...] = ("configurator", "financing", "service_booking", "support_call")
RELATIONSHIP = "relationship"
"""Touchpoint of the yearly NPS survey (the post-purchase one is ``purchase``)."""

TOUCHPOINTS: tuple[str, ...] = (*STEPS, RELATIONSHIP)
TOUCHPOINT = {name: code for code, name in enumerate(TOUCHPOINTS)}

#: Comment templates by score band (0 low, 1 middle, 2 high), for any touchpoint.
_GENERIC: tuple[tuple[str, ...], ...] = (
    (
        "Not good enough, I expected more from this brand.",
        "Slow and confusing. Nobody called me back.",
        "Staff were unfriendly & unhelpful.",
    ),
    (
        "It was fine, nothing special.",
        "Okay overall, but it took longer than it should.",
        "Average. Some things worked, some didn't.",
    ),
    (
        "Great experience, friendly and quick.",
        "Very smooth, thank you!",
        "Everything worked as promised.",
    ),
)

#: Touchpoint-specific templates by score band; they replace the generic ones.
_SPECIFIC: dict[str, tuple[tuple[str, ...], ...]] = {
    "financing": (
        (
            'Financing was a nightmare: the rate was > the quote & they called it "standard".',
            "Too much paperwork for the loan, three visits to sign.",
            "The finance offer changed at the last minute. <Very> disappointing.",
        ),
        (
            "Financing took a while but we got there.",
            "The loan terms were acceptable, the process was slow.",
        ),
        (
            "Clear finance options, signed in one visit.",
            "The finance advisor explained everything.",
        ),
    ),
    "service_visit": (
        (
            "Car was not ready when promised and nobody told me.",
            "Service cost > the estimate & no explanation.",
        ),
        (
            "Service was done but waiting time was long.",
            "Fine service, the lounge coffee was cold.",
        ),
        (
            "Quick service, car washed too!",
            "Pick-up & return service is excellent.",
        ),
    ),
    "test_drive_visit": (
        ("The test drive car wasn't available when I arrived.",),
        ("Short test drive, would have liked a longer route.",),
        ("Loved the test drive, the salesperson knew the car well.",),
    ),
    "delivery": (
        ("Delivery was late and the car had a scratch.",),
        ("Delivery okay, handover felt rushed.",),
        ("Beautiful handover, they explained every feature.",),
    ),
    "support_call": (
        ("On hold for 40 minutes & then cut off.",),
        ("The agent solved it on the second call.",),
        ("The agent fixed my problem right away.",),
    ),
    "configurator": (
        ('The configurator kept resetting my "options" <frustrating>.',),
        ("Configurator is okay but slow on mobile.",),
        ("Easy to build my car online.",),
    ),
    "purchase": (
        ("I would not recommend the brand after this purchase.",),
        ("Decent car, the buying process could be better.",),
        ("I already recommended you to two friends!",),
    ),
    RELATIONSHIP: (
        ("After a year I regret buying this car.",),
        ("The car is fine, the service network is average.",),
        ("A year in and I love the car & the service.",),
    ),
}


def _comment_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    texts: list[str] = []
    first = np.zeros((len(TOUCHPOINTS), 3), dtype=np.int64)
    count = np.zeros((len(TOUCHPOINTS), 3), dtype=np.int64)
    for tp, name in enumerate(TOUCHPOINTS):
        bands = _SPECIFIC.get(name, _GENERIC)
        for band, options in enumerate(bands):
            first[tp, band] = len(texts)
            count[tp, band] = len(options)
            texts.extend(options)
    return pa.array(texts, type=pa.string()), first, count


#: All comments, and where each (touchpoint, band) group starts and how many it holds.
COMMENTS_ARROW, COMMENT_FIRST, COMMENT_COUNT = _comment_table()
