"""The randomised holdout of the closed loop: which triggers get no outreach, reproducibly.

A trigger is held out when ``u < share``, where ``u`` is a uniform number drawn from the trigger's
own id and the loop's seed: the first 8 bytes of ``BLAKE2b(f"{seed}:{case_id}")`` read as an
unsigned integer and divided by 2^64. The draw depends on nothing else (not on the order of the
triggers, the engine, the machine or the Python version), so running the case rules again gives
every trigger the same arm, and an auditor can recompute any assignment by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from rox.errors import ActionError

__all__ = ["HOLDOUT", "OUTREACH", "assign_arms", "holdout_draw"]

#: The arm of a case that gets outreach, and of one randomly left without.
OUTREACH = "outreach"
HOLDOUT = "holdout"


def holdout_draw(case_id: str, seed: int) -> float:
    """The uniform number in [0, 1) that decides whether ``case_id`` is held out.

    Examples
    --------
    >>> a = holdout_draw("detractor-C00000001-r1", seed=17)
    >>> a == holdout_draw("detractor-C00000001-r1", 17) and 0 <= a < 1
    True
    """
    digest = hashlib.blake2b(f"{seed}:{case_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign_arms(case_ids: Iterable[str], share: float, seed: int) -> list[str]:
    """The arm of each case: ``'holdout'`` where its draw is below ``share``, else ``'outreach'``.

    Parameters
    ----------
    case_ids : iterable of str
    share : float
        Share of triggers held out, in [0, 1) (0: no holdout).
    seed : int
        The loop's seed (keep it fixed for the life of the loop).

    Raises
    ------
    ActionError
        If ``share`` is outside [0, 1).
    """
    if not 0.0 <= share < 1.0:
        raise ActionError(f"the holdout share must be in [0, 1), got {share}")
    return [HOLDOUT if holdout_draw(c, seed) < share else OUTREACH for c in case_ids]
