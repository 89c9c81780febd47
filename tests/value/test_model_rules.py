"""The value models' rules, each checked against a hand computation or a published value.

Written to kill the surviving mutants of ``bench/mutation.py`` (#22): every test states the rule it
checks, and its expected values are computed here from the closed forms, never by the model.
"""

from __future__ import annotations
