"""A synthetic car brand with planted, known effects, to try every rox analysis on.

>>> from rox.demo import generate, PLANTED
>>> frames = generate(2_000, seed=7)
>>> sorted(PLANTED)
['detractors_buy_less', 'driver_order', 'family_care', 'financing_friction',
 'promoters_refer', 'recovery_calls_save', 'service_change']
"""

from __future__ import annotations

from rox.demo._effects import PLANTED, DemoEffects
from rox.demo._load import build
from rox.demo.brand import generate, generate_chunks

__all__ = ["PLANTED", "DemoEffects", "build", "generate", "generate_chunks"]
