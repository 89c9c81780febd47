"""Distinct rows of numeric columns: dense group numbers, found by hashing.

The customer-value models depend on a customer only through a few numbers (x, t_x, T; x and mean
spend), so fits and predictions run once per distinct row. Finding those rows is on the hot path
of every prediction, so it hashes all columns at once instead of sorting or grouping them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["first_rows", "group_codes", "on_distinct"]


def on_distinct(fn: Callable[..., np.ndarray], *columns: np.ndarray) -> np.ndarray:
    """``fn(*columns)``, evaluated once per distinct row of the columns and spread to every row."""
    codes = group_codes(list(columns))
    first = first_rows(codes)
    return np.asarray(np.asarray(fn(*(np.asarray(c)[first] for c in columns)))[codes])


def group_codes(keys: list[np.ndarray]) -> np.ndarray:
    """Dense group numbers of the rows of several float columns.

    The columns' bits are mixed into one 64-bit key and hashed once; the grouping is then checked
    exactly (every row equals its group's first row) and, should two different rows ever share a
    key, redone column by column.
    """
    mixed = np.zeros(len(keys[0]), dtype="uint64")
    for key in keys:
        bits = (np.asarray(key, dtype="float64") + 0.0).view("uint64")  # + 0.0: -0.0 is 0.0
        mixed = _splitmix64(mixed ^ bits)
    codes = pd.factorize(mixed)[0]
    first = first_rows(codes)
    if all(_equal(key, key[first][codes]) for key in keys):
        return np.asarray(codes)
    codes = np.zeros(len(keys[0]), dtype="int64")
    for key in keys:
        column, uniques = pd.factorize(key)
        codes = pd.factorize(codes * len(uniques) + column)[0]
    return np.asarray(codes)


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN (checked only when plain equality fails: it costs twice)."""
    return bool(np.array_equal(a, b) or np.array_equal(a, b, equal_nan=True))


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea & Flood 2014): every input bit moves every output bit."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(z ^ (z >> np.uint64(31)))


def first_rows(codes: np.ndarray) -> np.ndarray:
    """The first row of each group of dense ``codes``."""
    n = int(codes.max()) + 1 if len(codes) else 0
    first = np.empty(n, dtype="int64")
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first
