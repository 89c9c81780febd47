"""Customer value: RFM summaries, lifetime-value models, churn and retention, concentration."""

from rox.value.rfm import RFM, rfm

__all__ = ["RFM", "rfm"]
