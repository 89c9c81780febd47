"""Plotly figure builders: each takes a result object and returns a figure; no computation here.

Results draw themselves through these builders (``result.plot()``), importing plotly only then.
"""
