"""The holdout's rules, each written out by hand (#22: tests that catch the bugs they are for).

A trigger is held out when its draw ``u`` (the first 8 bytes of BLAKE2b("seed:case_id") over
2^64) is strictly below the share; the share must lie in [0, 1). Both boundaries are tested on
both sides: a draw equal to the share is not held out, share 0 is allowed (nobody held out) and
share 1 is not.
"""

from __future__ import annotations

import hashlib

import pytest

from rox.actions.holdout import HOLDOUT, OUTREACH, assign_arms, holdout_draw
from rox.errors import ActionError


def _by_hand(case_id: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{case_id}".encode(), digest_size=8).digest()
    return sum(b * 256 ** (7 - i) for i, b in enumerate(digest)) / 18446744073709551616


def test_the_draw_is_the_digest_over_two_to_the_64():
    for case_id, seed in (("a", 0), ("detractor-C1-r7", 17), ("friction-j1:pay", 123456)):
        assert holdout_draw(case_id, seed) == _by_hand(case_id, seed)
        assert 0.0 <= holdout_draw(case_id, seed) < 1.0


def test_a_draw_equal_to_the_share_is_not_held_out():
    u = holdout_draw("x", 5)
    assert assign_arms(["x"], u, seed=5) == [OUTREACH]  # u < share is strict
    above = u + 1e-12
    assert assign_arms(["x"], above, seed=5) == [HOLDOUT]
    below = u - 1e-12
    assert assign_arms(["x"], below, seed=5) == [OUTREACH]


def test_the_share_must_lie_in_zero_inclusive_to_one_exclusive():
    ids = [f"c{i}" for i in range(50)]
    assert assign_arms(ids, 0.0, seed=1) == [OUTREACH] * 50  # 0 allowed: no holdout
    with pytest.raises(ActionError, match=r"\[0, 1\)"):
        assign_arms(ids, -1e-9, seed=1)
    highest = max(holdout_draw(c, 1) for c in ids)
    assert assign_arms(ids, 0.999999, seed=1) == [
        HOLDOUT if _by_hand(c, 1) < 0.999999 else OUTREACH for c in ids
    ]
    assert highest < 0.999999  # so every one of them is held out just below 1
    with pytest.raises(ActionError, match=r"\[0, 1\)"):
        assign_arms(ids, 1.0, seed=1)


def test_each_arm_is_the_hand_draw_against_the_share():
    ids = [f"detractor-r{i}" for i in range(200)]
    expected = [HOLDOUT if _by_hand(c, 17) < 0.3 else OUTREACH for c in ids]
    assert assign_arms(ids, 0.3, seed=17) == expected
    assert 0 < expected.count(HOLDOUT) < 200
