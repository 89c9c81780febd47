"""Imports every command module so that its commands register on the app."""

from __future__ import annotations

from rox.cli import actions as actions
from rox.cli import cases as cases
from rox.cli import demo as demo
from rox.cli import drivers as drivers
from rox.cli import experience as experience
from rox.cli import impact as impact
from rox.cli import ingest as ingest
from rox.cli import journey as journey
from rox.cli import nonresponse as nonresponse
from rox.cli import roi as roi
from rox.cli import service as service
from rox.cli import value as value
from rox.cli import voice as voice
from rox.cli import workspace as workspace
