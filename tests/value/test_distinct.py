"""Distinct rows by hashing: the same groups as pandas, whatever the values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rox.value import distinct
from rox.value.distinct import first_rows, group_codes
from rox.value.rfm import compress

values = st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300, -3.0, 7.0])


def _same_partition(codes: np.ndarray, frame: pd.DataFrame) -> bool:
    expected = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    # the same partition: a one-to-one map between the two numberings
    pairs = set(zip(codes.tolist(), expected.tolist(), strict=True))
    return len(pairs) == len(set(codes.tolist())) == len(set(expected.tolist()))


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(values, values, values), min_size=1, max_size=60))
def test_groups_equal_pandas_groups(rows):
    frame = pd.DataFrame(rows, columns=["a", "b", "c"]) + 0.0
    codes = group_codes([frame[c].to_numpy() for c in frame])
    assert _same_partition(codes, frame)
    first = first_rows(codes)
    assert np.array_equal(codes[first], np.arange(len(first)))


def test_colliding_hashes_fall_back_to_exact_grouping(monkeypatch):
    # every row gets the same hash: the check finds the collision and groups column by column
    monkeypatch.setattr(distinct, "_splitmix64", np.zeros_like)
    frame = pd.DataFrame({"a": [1.0, 1.0, 2.0, 2.0], "b": [3.0, 4.0, 3.0, 3.0]})
    codes = group_codes([frame["a"].to_numpy(), frame["b"].to_numpy()])
    assert _same_partition(codes, frame)
    assert codes.max() + 1 == 3


def test_compress_counts_and_sorts_the_distinct_rows():
    frame = pd.DataFrame(
        {"frequency": [2, 0, 2, 1], "recency": [5.0, 0.0, 5.0, 3.0], "T": [9.0, 4.0, 9.0, 9.0]}
    )
    out = compress(frame)
    assert out.to_dict("list") == {
        "frequency": [0.0, 1.0, 2.0],
        "recency": [0.0, 3.0, 5.0],
        "T": [4.0, 9.0, 9.0],
        "count": [1, 1, 2],
    }
