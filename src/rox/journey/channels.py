"""Omnichannel: how journeys move between channels, and whether experience is the same in each.

- the channel-switching matrix: for consecutive events of a journey, from-channel x to-channel
  counts (the diagonal is staying in a channel);
- the share of journeys that use more than one channel;
- experience consistency: for each touchpoint rated in several channels, the spread of CSAT (or
  NPS, CES) between its channels and whether it is real (:func:`rox.experience.compare` of each
  channel against the others, Holm-corrected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from rox.experience import compare, measure
from rox.journey.events import JourneyQuery, Journeys, journey_events
from rox.results import Result

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["ChannelSwitching", "channel_switching", "consistency"]


@dataclass(frozen=True, eq=False)
class ChannelSwitching(Result):
    """Moves between channels within journeys.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``source``, ``target`` (channels) and ``moves``.
    cross_channel_share : float
        Share of journeys using more than one channel.
    journeys : int
    """

    cross_channel_share: float = float("nan")
    journeys: int = 0

    _plotter: ClassVar[str | None] = "rox.viz.journey:plot_channels"

    def matrix(self) -> pd.DataFrame:
        """From-channel x to-channel counts."""
        matrix = self.frame.pivot(index="source", columns="target", values="moves")
        return matrix.fillna(0).astype("int64")


def channel_switching(
    ws: Workspace | Journeys, query: JourneyQuery | None = None, **options: Any
) -> ChannelSwitching:
    """Count channel moves within journeys and the share of cross-channel journeys."""
    ws, e = journey_events(ws, query, options)
    e = e.mutate(
        channel=e.channel.fill_null("(none)"), next_channel=e.next_channel.fill_null("(none)")
    )
    moves = e.filter(e.next_step.notnull())
    frame = (
        moves.group_by([moves.channel.name("source"), moves.next_channel.name("target")])
        .aggregate(moves=moves.count())
        .execute()
    )
    per = e.group_by("journey_id").aggregate(channels=e.channel.nunique())
    totals = (
        per.aggregate(journeys=per.count(), cross=per.count(where=per.channels > 1))
        .execute()
        .iloc[0]
    )
    journeys = int(totals["journeys"])
    share = float(totals["cross"]) / journeys if journeys else float("nan")
    frame = frame.sort_values(["moves", "source", "target"], ascending=[False, True, True])
    frame = frame.reset_index(drop=True)
    return ChannelSwitching(frame=frame, cross_channel_share=share, journeys=journeys)


def consistency(ws: Workspace, metric: str = "csat", *, min_n: int = 30) -> pd.DataFrame:
    """For each touchpoint rated in two or more channels: the spread between its channels.

    Returns one row per touchpoint: ``channels``, ``lowest`` and ``highest`` channel with their
    estimates, ``spread`` (highest - lowest), ``significant`` (any channel differs from the others
    after Holm correction) and ``verdict`` (the strongest difference), sorted by spread.
    """
    by = measure(ws, metric, by=["touchpoint", "channel"], min_n=min_n).frame
    by = by[~by["low_n"]]
    rows = []
    for touchpoint, g in by.groupby("touchpoint", sort=True):
        if len(g) < 2:
            continue
        tested = compare(
            ws, metric, by="channel", where={"touchpoint": touchpoint}, min_n=min_n
        ).frame
        lo, hi = g.loc[g["estimate"].idxmin()], g.loc[g["estimate"].idxmax()]
        strongest = tested.sort_values("p_value").iloc[0] if len(tested) else None
        rows.append(
            {
                "touchpoint": touchpoint,
                "channels": len(g),
                "lowest": lo["channel"],
                "lowest_estimate": lo["estimate"],
                "highest": hi["channel"],
                "highest_estimate": hi["estimate"],
                "spread": hi["estimate"] - lo["estimate"],
                "significant": bool(tested["significant"].any()) if len(tested) else False,
                "verdict": strongest["verdict"] if strongest is not None else "",
            }
        )
    cols = [
        "touchpoint",
        "channels",
        "lowest",
        "lowest_estimate",
        "highest",
        "highest_estimate",
        "spread",
        "significant",
        "verdict",
    ]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("spread", ascending=False).reset_index(drop=True)
