"""Hypothesis strategies of rox's canonical data, for property tests.

Needs ``hypothesis`` (in the ``test`` extra). Each strategy draws data small enough for one
in-memory workspace per example, shaped as :func:`rox.testing.insert_rows` takes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from hypothesis import strategies as st

from rox.testing import responses_frame

__all__ = ["journeys", "responses"]

#: The answer scale of each metric by default: (lowest, highest) score.
_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


@st.composite
def responses(
    draw: st.DrawFn,
    metric: str = "nps",
    groups: Sequence[str] = ("web", "app", "dealer"),
    max_size: int = 80,
) -> pd.DataFrame:
    """Responses to ``metric``, integer scores over its whole default scale, each in a ``channel``.

    At least one response; channels drawn from ``groups``.
    """
    low, high = _RANGES[metric]
    rows = draw(
        st.lists(
            st.tuples(st.integers(low, high), st.sampled_from(list(groups))),
            min_size=1,
            max_size=max_size,
        )
    )
    scores, channels = zip(*rows, strict=True)
    return responses_frame(metric, list(scores), channel=list(channels))


def journeys(
    steps: Sequence[str] = ("a", "b", "c", "d"), max_journeys: int = 12, max_steps: int = 8
) -> st.SearchStrategy[list[list[str]]]:
    """Journeys as lists of steps: at least one journey, each of at least one step."""
    return st.lists(
        st.lists(st.sampled_from(list(steps)), min_size=1, max_size=max_steps),
        min_size=1,
        max_size=max_journeys,
    )
