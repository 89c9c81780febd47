"""Reading the actions' TOML settings (the policy, the case rules): one loader, one set of errors.

A setting is given as a :class:`~pathlib.Path` or path string, as TOML text (a string holding a
line break), or not at all (the built-in default text). The tables found are checked against the
known ones, and each ``[[entry]]`` of an array of tables against the fields of the dataclass it
becomes, so that a misspelt setting is named instead of silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from rox import _toml
from rox.errors import ActionError

__all__ = ["entries", "parse", "settings"]

T = TypeVar("T")


def parse(source: str | os.PathLike[str] | None, *, default: str, what: str) -> dict[str, Any]:
    """The parsed TOML of ``source`` (see the module), or of ``default`` when it is None.

    Parameters
    ----------
    source : path, TOML text or None
    default : str
        The TOML text used when ``source`` is None.
    what : str
        What the TOML holds, as the errors name it (``"policy"``, ``"case rules"``).

    Raises
    ------
    ActionError
        If the file does not exist, cannot be read, or the text is not valid TOML (the messages
        of :func:`rox._toml.read`).
    """
    return _toml.read(default if source is None else source, what=what, error=ActionError)


def settings(
    data: Mapping[str, Any], *, tables: Iterable[str], section: str, known: Iterable[str], what: str
) -> dict[str, Any]:
    """The ``[section]`` table of ``data``, after checking the tables and its settings.

    Raises
    ------
    ActionError
        If ``data`` has a table other than ``tables`` (naming ``what``), or ``[section]`` a
        setting other than ``known``.
    """
    unknown = set(data) - set(tables)
    if unknown:
        raise ActionError(f"unknown sections in the {what}: {sorted(unknown)}")
    found = dict(data.get(section, {}))
    bad = set(found) - set(known)
    if bad:
        raise ActionError(f"unknown [{section}] settings: {sorted(bad)}")
    return found


def entries(
    data: Mapping[str, Any],
    key: str,
    build: Callable[[dict[str, Any]], T],
    *,
    fields: Iterable[str],
    label: str,
    required: Iterable[str] = (),
) -> list[T]:
    """The ``[[key]]`` entries of ``data``, each checked and then made by ``build``, in order.

    Raises
    ------
    ActionError
        Naming the entry (``label`` and its ``name``) and the unknown or missing settings (or
        whatever ``build`` raises for the first entry it refuses).
    """
    out = []
    for raw in data.get(key, []):
        bad = set(raw) - set(fields)
        if bad:
            raise ActionError(f"{label} {raw.get('name')!r}: unknown settings {sorted(bad)}")
        missing = set(required) - set(raw)
        if missing:
            raise ActionError(f"{label} {raw.get('name')!r}: missing {sorted(missing)}")
        out.append(build(dict(raw)))
    return out
