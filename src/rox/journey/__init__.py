"""Journey analytics: journey maps, paths, funnels, friction points and omnichannel, in the engine.

Start from :class:`JourneyQuery` (how events make journeys); every analysis takes its options.
Several analyses of the same journeys share one ordering of the events through :func:`prepare`.
"""

from rox.journey.channels import ChannelSwitching, channel_switching, consistency
from rox.journey.events import JourneyQuery, Journeys, prepare
from rox.journey.friction import Audit, FrictionTable, audit, friction
from rox.journey.funnels import Funnel, funnel
from rox.journey.maps import JourneyMap, PathTable, journey_map, paths, variants

__all__ = [
    "Audit",
    "ChannelSwitching",
    "FrictionTable",
    "Funnel",
    "JourneyMap",
    "JourneyQuery",
    "Journeys",
    "PathTable",
    "audit",
    "channel_switching",
    "consistency",
    "friction",
    "funnel",
    "journey_map",
    "paths",
    "prepare",
    "variants",
]
