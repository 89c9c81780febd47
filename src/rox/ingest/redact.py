"""Redaction of personal data in free text, applied at ingest before the text is stored.

What is found and what replaces it
----------------------------------
``email``  ``[EMAIL]``
    ``local@domain.tld``.
``iban``  ``[IBAN]``
    Two letters, two check digits and 11 to 30 letters or digits (spaces allowed every four),
    kept only when the ISO 13616 mod-97 check holds (the number rearranged and read as an
    integer leaves remainder 1 when divided by 97).
``card``  ``[CARD]``
    13 to 19 digits (the first not 0), spaces or dashes allowed between groups, kept only when
    the Luhn check holds (ISO/IEC 7812-1 annex B).
``phone``  ``[PHONE]``
    International numbers (``+`` or ``00`` and a country code, then 6 to 13 digits in groups),
    Italian mobiles (``3xx``, 9 to 10 digits) and landlines (``0`` and 5 to 10 more digits), German
    numbers (``0`` and an area or mobile prefix, then 6 to 10 digits, ``(030) 1234567``,
    ``0171/1234567``). A candidate that reads as a date, or that a currency sign or unit
    (``€``, ``$``, ``EUR``, ``euro``, ``km``, ``%``) touches, is left alone: prices, dates and
    mileages are not phone numbers.
``plate``  ``[PLATE]``
    Only with patterns configured: the presets ``it`` (``AB 123 CD``), ``de`` (``M-AB 1234``,
    ``B AB 123E``), ``fr`` (``AB-123-CD``), or any regular expression.
``name``  ``[NAME]``
    One or two capitalised words after a greeting (``Hi``, ``Dear``, ``Ciao``, ``Gentile``,
    ``Hallo``, ``Bonjour``, ``Hola`` ...), a title (``Mr``, ``Mrs``, ``Sig.``, ``Dott.``, ``Herr``,
    ``Frau``, ``Mme`` ...) or an introduction (``my name is``, ``mi chiamo``, ``ich heiße``,
    ``je m'appelle``, ``me llamo``). Names elsewhere are not detectable by rules and stay.

Configuration (the mapping's ``[redact]`` section; see :mod:`rox.ingest.mapping`)::

    [redact]
    columns = ["comment"]                # canonical columns to redact (default: comment)
    kinds = ["email", "phone", "iban", "card", "name", "plate"]   # default: all
    plates = ["it", "de"]                # presets or regular expressions (default: none)
    keep_original = "comment_original"   # a protected column for the original (default: none)
    enabled = true                       # false loads the text as it is

By default the ``comment`` column of ``responses`` is redacted and the original is not kept.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rox._sql import ident
from rox.errors import MappingError

__all__ = ["KINDS", "PLATE_PRESETS", "Redaction", "iban_valid", "luhn_valid", "redact"]

#: The kinds of personal data found, in the order they are looked for.
KINDS: tuple[str, ...] = ("email", "iban", "card", "phone", "plate", "name")
#: Licence-plate patterns by country code.
PLATE_PRESETS: dict[str, str] = {
    "it": r"\b[A-HJ-NPR-Z]{2}[ -]?\d{3}[ -]?[A-HJ-NPR-Z]{2}\b",
    "de": r"\b[A-ZÄÖÜ]{1,3}[ -][A-Z]{1,2}[ -]?[1-9]\d{0,3}[EH]?\b",
    "fr": r"\b[A-HJ-NP-TV-Z]{2}-\d{3}-[A-HJ-NP-TV-Z]{2}\b",
}
_KEYS = {"columns", "kinds", "plates", "keep_original", "enabled"}

_EMAIL = re.compile(r"[\w.+%'-]+@[\w-]+(?:\.[\w-]+)+\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d.,+])[1-9](?:[ -]?\d){12,18}(?![\d.,]\d)")
_PHONE = re.compile(
    r"(?<![\w+.,/-])(?<!\d[ -])(?:"
    # international: +39 ..., 0049 ..., +1 (415) ...
    r"(?:\+|00)[1-9]\d{0,2}[ .-]?(?:\(0\)[ ]?)?(?:\(?\d{1,5}\)?[ ./-]?){1,5}\d"
    # national, starting with 0 (Italian and German landlines, German mobiles): 030 1234567
    r"|\(?0\d{1,4}\)?[ ./-]?\d{2,8}(?:[ .-]?\d{2,5}){0,2}"
    # Italian mobiles: 333 1234567, 347-123-4567
    r"|3\d{2}[ .-]?\d{3}[ .-]?\d{3,4}"
    r")(?![\w/-]|[.,]\d)"
)
_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
_MONEY_BEFORE = re.compile(r"(?:[€$£¥]|\b(?:EUR|USD|GBP|CHF|eur|euro|euros|Euro)\b)\s*$")
_UNIT_AFTER = re.compile(
    r"^\s*(?:[€$£%]|(?:EUR|USD|GBP|CHF|eur|euro|euros|Euro|km|KM|mi|miles|kg|cc|cv|CV|PS|hp|kW)\b)"
)
_GREETING = (
    r"(?:hi|hello|hey|dear|thanks|thank you|ciao|salve|gentile|gentilissim[oa]|caro|cara|"
    r"buongiorno|buonasera|grazie|hallo|liebe|lieber|sehr geehrte[r]?|danke|bonjour|bonsoir|"
    r"cher|chère|merci|hola|estimad[oa]|querid[oa]|gracias)"
)
_TITLE = (
    r"(?:Mr|Mrs|Ms|Miss|Dr|Sig|Sig\.ra|Sigg|Signor|Signora|Signorina|Dott|Dott\.ssa|Ing|Avv|"
    r"Herr|Frau|Hr|Fr|Monsieur|Madame|Mademoiselle|Mme|Mlle|Sr|Sra|Srta|Don|Doña)\.?"
)
_INTRO = (
    r"(?:my name is|I am called|mi chiamo|il mio nome è|sono il signor|sono la signora|"
    r"ich heiße|ich heisse|mein name ist|je m'appelle|je m’appelle|me llamo|mi nombre es)"
)
_CAP = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'’]+(?:-[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+)?"
# names: the greeting/title/introduction is kept, the one or two capitalised words after it go
_NAME = re.compile(
    rf"(?P<lead>\b(?:(?i:{_GREETING})[ ,]+(?:{_TITLE}[ ]+)?|{_TITLE}[ ]+|(?i:{_INTRO})[ ]+))"
    rf"(?P<name>{_CAP}(?:[ ]{_CAP})?)"
)
# words after a greeting that are not names
_NOT_NAMES = {
    "All",
    "Team",
    "Everyone",
    "There",
    "Tutti",
    "Again",
    "Sir",
    "Madam",
    "Alle",
    "Tous",
    "Todos",
    "The",
    "For",
    "Per",
    "You",
    "Mille",
    "Anyway",
}
# characters without which no kind can be present (a quick pass skips most comments)
_TRIGGER = re.compile(r"[@\d]|[A-Z]\w*[.]?[ ,]+[A-ZÀ-Þ]|(?i:name|chiamo|heiß|heiss|appelle|llamo)")


def luhn_valid(digits: str) -> bool:
    """Whether the digit string passes the Luhn check (ISO/IEC 7812-1 annex B).

    >>> luhn_valid("4539148803436467"), luhn_valid("4539148803436468")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """Whether ``text`` (spaces allowed) passes the ISO 13616 / ISO 7064 mod-97-10 check.

    The first four characters move to the end, letters become 10 (A) to 35 (Z), and the number
    read in base 10 must leave remainder 1 modulo 97.

    >>> iban_valid("GB82 WEST 1234 5698 7654 32"), iban_valid("GB82 WEST 1234 5698 7654 33")
    (True, False)
    """
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    rearranged = s[4:] + s[:4]
    remainder = 0
    for ch in rearranged:
        value = int(ch, 36)  # '0'-'9' -> 0-9, 'A'-'Z' -> 10-35
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


@dataclass(frozen=True)
class Redaction:
    """What to redact, where, and whether to keep the original in a protected column.

    Attributes
    ----------
    columns : tuple of str
        Canonical text columns to redact (default: ``comment``).
    kinds : tuple of str
        Kinds of personal data to redact (:data:`KINDS`; default: all).
    plates : tuple of str
        Licence-plate patterns: presets of :data:`PLATE_PRESETS` or regular expressions.
    keep_original : str or None
        A column that keeps the original text (protect it: it holds the personal data).
    enabled : bool
        False loads the text as it is.
    """

    columns: tuple[str, ...] = ("comment",)
    kinds: tuple[str, ...] = KINDS
    plates: tuple[str, ...] = ()
    keep_original: str | None = None
    enabled: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "mapping") -> Redaction:
        """Build from the mapping's ``[redact]`` section.

        Raises
        ------
        MappingError
            On an unknown key or kind, an invalid plate pattern or a bad value.
        """
        if not isinstance(data, Mapping):
            raise MappingError(f"{origin}: [redact] must be a table of name = value")
        unknown = set(data) - _KEYS
        if unknown:
            raise MappingError(
                f"{origin}: unknown key(s) in [redact]: {', '.join(sorted(unknown))}; "
                f"expected {', '.join(sorted(_KEYS))}"
            )
        columns = _names(data.get("columns", ["comment"]), f"{origin}: [redact] columns")
        kinds = _names(data.get("kinds", list(KINDS)), f"{origin}: [redact] kinds")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise MappingError(
                f"{origin}: [redact] kinds: unknown kind(s) {', '.join(bad)}; expected some of "
                f"{', '.join(KINDS)}"
            )
        plates = _names(data.get("plates", []), f"{origin}: [redact] plates")
        for p in plates:
            if p not in PLATE_PRESETS:
                try:
                    re.compile(p)
                except re.error as exc:
                    raise MappingError(
                        f"{origin}: [redact] plates: {p!r} is neither a preset "
                        f"({', '.join(PLATE_PRESETS)}) nor a regular expression ({exc})"
                    ) from None
        keep = data.get("keep_original")
        if keep is not None and (not isinstance(keep, str) or not keep.strip()):
            raise MappingError(f"{origin}: [redact] keep_original must be a column name")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise MappingError(f"{origin}: [redact] enabled must be true or false")
        if keep is not None and len(columns) != 1:
            raise MappingError(
                f"{origin}: [redact] keep_original keeps one column's original; "
                f"columns lists {len(columns)}"
            )
        return cls(tuple(columns), tuple(kinds), tuple(plates), keep, enabled)

    def redact(self, text: str | None) -> str | None:
        """Return ``text`` with the configured kinds of personal data replaced."""
        if text is None or not self.enabled:
            return text
        return _redact(text, self.kinds, self._plate_patterns())

    def redact_many(self, texts: Iterable[str | None]) -> list[str | None]:
        """:meth:`redact` over many texts."""
        if not self.enabled:
            return list(texts)
        plates = self._plate_patterns()
        return [None if t is None else _redact(t, self.kinds, plates) for t in texts]

    def _plate_patterns(self) -> tuple[re.Pattern[str], ...]:
        if "plate" not in self.kinds:
            return ()
        return tuple(re.compile(PLATE_PRESETS.get(p, p)) for p in self.plates)

    def apply_to_staged(self, con: Any, table: str, columns: Sequence[str]) -> None:
        """Redact source ``columns`` of staged DuckDB ``table`` in place, before any check.

        The original of the (single) column is first copied to ``keep_original`` when one is
        configured. Runs as a vectorised Python function inside DuckDB (only the text column
        crosses into Python, in Arrow batches).
        """
        if not self.enabled or not columns:
            return
        import duckdb
        import pyarrow as pa

        name = "_rox_redact"

        def batch(values: Any) -> Any:
            return pa.array(self.redact_many(values.to_pylist()), type=pa.string())

        with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
            con.remove_function(name)
        con.create_function(name, batch, ["VARCHAR"], "VARCHAR", type="arrow")
        try:
            sets = []
            for c in columns:
                con.execute(f"ALTER TABLE {table} ALTER {ident(c)} TYPE VARCHAR")
                sets.append(f"{ident(c)} = {name}({ident(c)})")
            if self.keep_original is not None:
                keep = ident(self.keep_original)
                con.execute(f"ALTER TABLE {table} ADD COLUMN {keep} VARCHAR")
                sets.append(f"{keep} = {ident(columns[0])}")
            con.execute(f"UPDATE {table} SET {', '.join(sets)}")
        finally:
            con.remove_function(name)


def redact(text: str, kinds: Sequence[str] = KINDS, plates: Sequence[str] = ()) -> str:
    """Return ``text`` with personal data replaced by ``[EMAIL]``, ``[PHONE]`` and so on.

    Parameters
    ----------
    text : str
        Free text.
    kinds : sequence of str
        Kinds to redact (default: all of :data:`KINDS`).
    plates : sequence of str
        Licence-plate presets (``it``, ``de``, ``fr``) or regular expressions.

    Examples
    --------
    >>> redact("Call me on +39 333 123 4567 or write to anna.b@example.it")
    'Call me on [PHONE] or write to [EMAIL]'
    >>> redact("Ciao Marco, the car cost € 32.500 on 12/05/2024")
    'Ciao [NAME], the car cost € 32.500 on 12/05/2024'
    """
    return _redact(text, tuple(kinds), tuple(re.compile(PLATE_PRESETS.get(p, p)) for p in plates))


def _redact(text: str, kinds: Sequence[str], plates: Sequence[re.Pattern[str]]) -> str:
    if not _TRIGGER.search(text):
        return text
    if "email" in kinds and "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if "iban" in kinds:
        text = _IBAN.sub(lambda m: "[IBAN]" if iban_valid(m.group()) else m.group(), text)
    if "card" in kinds:
        text = _CARD.sub(_card, text)
    if "phone" in kinds:
        # digits inside what looks like an IBAN or a card (with a wrong check) are no phone either
        ibans = [m.span() for p in (_IBAN, _CARD) for m in p.finditer(text)]
        text = _PHONE.sub(lambda m: _phone(m, ibans), text)
    for pattern in plates:
        text = pattern.sub("[PLATE]", text)
    if "name" in kinds:
        text = _NAME.sub(_name, text)
    return text


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", m.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else m.group()


def _phone(m: re.Match[str], ibans: Sequence[tuple[int, int]] = ()) -> str:
    s = m.group()
    if any(lo < m.end() and m.start() < hi for lo, hi in ibans):
        return s
    digits = sum(ch.isdigit() for ch in s)
    if not 6 <= digits <= 15 or _DATE.match(s.strip("()")):
        return s
    before, after = m.string[: m.start()], m.string[m.end() :]
    if _MONEY_BEFORE.search(before) or _UNIT_AFTER.match(after):
        return s
    international = s.startswith(("+", "00"))
    if not international and s[0] == "3" and digits not in (9, 10):
        return s
    if not international and s.lstrip("(")[0] == "0" and digits < 7:
        return s
    return "[PHONE]"


def _name(m: re.Match[str]) -> str:
    words = m.group("name").split(" ")
    if words[0] in _NOT_NAMES:
        return m.group()
    return m.group("lead") + "[NAME]"


def _names(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise MappingError(f"{where} must be a list of strings, not {value!r}")
    return list(value)
