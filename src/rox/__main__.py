"""``python -m rox``: the same as the ``rox`` command."""

from rox.cli import main

main()
