"""Experience joined to value: what experience is worth, and what drives it.

The layer between the analyses (experience, value, journey) and the outputs: it imports them, and
none of them imports it.
"""

from rox.impact.drivers import OUTCOMES, KeyDrivers, key_drivers

__all__ = ["OUTCOMES", "KeyDrivers", "key_drivers"]
