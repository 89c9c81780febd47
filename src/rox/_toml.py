"""Reading a TOML settings file: one reader, one set of messages, for every layer.

Mappings (ingestion), lifecycle rules, theme rules, initiatives, the actions' policy and case
rules, and the service's webhooks are all TOML. Each layer raises its own error class, but a
missing file, a directory, a file that is not UTF-8, an unreadable file and malformed TOML are
told the same way everywhere, so none of them ends in an internal error.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from rox.errors import RoxError

__all__ = ["read"]


def read(source: str | os.PathLike[str], *, what: str, error: type[RoxError]) -> dict[str, Any]:
    r"""The parsed TOML of ``source``: a file's path, or TOML text (a string with a line break).

    Parameters
    ----------
    source : path or str
        The file, or the TOML text itself.
    what : str
        What the file holds, as the messages name it (``"mapping"``, ``"policy"``).
    error : type of RoxError
        The error raised, with a message that names the file and what is wrong.

    Raises
    ------
    RoxError
        Of class ``error``: the file does not exist, is a directory, is not UTF-8, cannot be read,
        or is not valid TOML.

    Examples
    --------
    >>> from rox.errors import MetricError
    >>> read("[lifecycle]\nperiod = 'month'\n", what="lifecycle rules", error=MetricError)
    {'lifecycle': {'period': 'month'}}
    >>> read("nope.toml", what="lifecycle rules", error=MetricError)
    Traceback (most recent call last):
    ...
    rox.errors.MetricError: lifecycle rules file nope.toml does not exist
    """
    if isinstance(source, str) and "\n" in source:
        try:
            return tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise error(f"the {what} is not valid TOML: {exc}") from None
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} file {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} file {path} is a directory, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"offset {exc.start}); TOML files are UTF-8: save it as UTF-8"
        ) from None
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} file {path} is not valid TOML: {exc}") from None
