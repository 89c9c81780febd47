"""Journey analytics: journey maps, paths, funnels, friction points and omnichannel, in the engine.

Start from :class:`JourneyQuery` (how events make journeys); every analysis takes its options.
Several analyses of the same journeys share one ordering of the events through :func:`prepare`;
the journey index (:func:`build_index`) keeps that ordering in the workspace, refreshed on load.
"""

from rox.journey.channels import ChannelSwitching, channel_switching, consistency
from rox.journey.events import (
    JourneyIndex,
    JourneyIndexWarning,
    JourneyQuery,
    Journeys,
    index_info,
    prepare,
)
from rox.journey.friction import Audit, FrictionTable, audit, friction
from rox.journey.funnels import Funnel, funnel
from rox.journey.index import build_index, drop_index, refresh_index
from rox.journey.maps import JourneyMap, PathTable, journey_map, paths, variants

__all__ = [
    "Audit",
    "ChannelSwitching",
    "FrictionTable",
    "Funnel",
    "JourneyIndex",
    "JourneyIndexWarning",
    "JourneyMap",
    "JourneyQuery",
    "Journeys",
    "PathTable",
    "audit",
    "build_index",
    "channel_switching",
    "consistency",
    "drop_index",
    "friction",
    "funnel",
    "index_info",
    "journey_map",
    "paths",
    "prepare",
    "refresh_index",
    "variants",
]
