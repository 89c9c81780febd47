"""Redaction of personal data at ingest (#18): every kind, what must stay, and the ingest hook."""

from __future__ import annotations

import pandas as pd
import pytest

import rox
from rox.errors import MappingError
from rox.ingest.redact import Redaction, iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # emails
        ("write to anna.bianchi@example.it today", "write to [EMAIL] today"),
        ("mail: j.o'neil+cars@mail.co.uk.", "mail: [EMAIL]."),
        # international phones
        ("call +39 333 123 4567 please", "call [PHONE] please"),
        ("call +49 (0) 30 1234567", "call [PHONE]"),
        ("my number is +1 (415) 555-2671.", "my number is [PHONE]."),
        ("0039 06 1234 5678 is the office", "[PHONE] is the office"),
        # Italian mobiles and landlines
        ("cell 347-123-4567 anytime", "cell [PHONE] anytime"),
        ("chiamatemi al 3331234567", "chiamatemi al [PHONE]"),
        ("ufficio 02 12345678", "ufficio [PHONE]"),
        ("tel. 06/4567890", "tel. [PHONE]"),
        # German numbers
        ("Ruf mich an: 030 12345678", "Ruf mich an: [PHONE]"),
        ("Handy 0171/1234567", "Handy [PHONE]"),
        ("Festnetz (089) 1234567", "Festnetz [PHONE]"),
        # IBAN (mod-97 valid) and cards (Luhn valid)
        ("IBAN IT60 X054 2811 1010 0000 0123 456 grazie", "IBAN [IBAN] grazie"),
        ("refund to DE89370400440532013000", "refund to [IBAN]"),
        ("GB82 WEST 1234 5698 7654 32", "[IBAN]"),
        ("card 4539 1488 0343 6467 was charged twice", "card [CARD] was charged twice"),
        ("card 5500-0000-0000-0004", "card [CARD]"),
        ("amex 378282246310005", "amex [CARD]"),
        # names after greetings, titles, introductions
        ("Ciao Marco, the car is great", "Ciao [NAME], the car is great"),
        ("Dear Mr Smith, thank you", "Dear Mr [NAME], thank you"),
        ("Sehr geehrte Frau Müller, danke", "Sehr geehrte Frau [NAME], danke"),
        ("Gentile Sig. Rossi, grazie", "Gentile Sig. [NAME], grazie"),
        ("my name is John Peter and I waited", "my name is [NAME] and I waited"),
        ("mi chiamo Giulia De Santis", "mi chiamo [NAME] Santis"),
        ("Bonjour Mme Dupont", "Bonjour Mme [NAME]"),
        ("thanks to Signor Bianchi for the help", "thanks to Signor [NAME] for the help"),
    ],
)
def test_each_kind_is_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # prices
        "It cost € 32.500 and the service 1.250,00 €",
        "Price 25.000 euro, $19,999 with 3% off",
        "I paid EUR 345 000 for the fleet",
        "Rate 0,99% on 36 months",
        # dates and times
        "Delivered on 12/05/2024, booked 2024-05-12, promised 03.05.2024 at 10:30",
        "between 01/02/2025 and 28.02.2025",
        # mileages, model numbers, versions, order numbers
        "30000 km and 150 CV, 0 to 100 in 7.2 s",
        "Model X5 M50i, part 5Q0-907-275, ID.4, A4 2.0 TDI, app 3.2.1",
        "Order 12345678 and ticket 3141592 are still open",
        # checksums that fail are not IBANs or cards
        "IT60 X054 2811 1010 0000 0123 457",
        "4539 1488 0343 6468",
        # greetings without a name
        "Hi all, Hello There, grazie Mille",
        "The service was great",
    ],
)
def test_what_is_not_personal_data_stays(text):
    assert redact(text) == text


def test_plates_only_when_configured():
    text = "my car AB 123 CD and the Munich one M-XY 1234"
    assert redact(text) == text
    assert redact(text, plates=["it"]) == "my car [PLATE] and the Munich one M-XY 1234"
    assert redact(text, plates=["it", "de"]) == "my car [PLATE] and the Munich one [PLATE]"
    assert redact("plate ZZ-99", plates=[r"\bZZ-\d\d\b"]) == "plate [PLATE]"


def test_kinds_can_be_chosen():
    text = "Ciao Marco, call +39 333 123 4567"
    assert redact(text, kinds=["phone"]) == "Ciao Marco, call [PHONE]"
    assert Redaction(enabled=False).redact(text) == text


def test_checksums_against_published_examples():
    # IBAN examples from the ECBS/SWIFT IBAN registry; card numbers are the issuers' test numbers
    for valid in (
        "GB29 NWBK 6016 1331 9268 19",
        "FR14 2004 1010 0505 0001 3M02 606",
        "DE89 3704 0044 0532 0130 00",
    ):
        assert iban_valid(valid)
        assert not iban_valid(valid[:-1] + str((int(valid[-1]) + 1) % 10))
    for valid in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"):
        assert luhn_valid(valid)
        assert not luhn_valid(valid[:-1] + str((int(valid[-1]) + 1) % 10))


def _responses(comments):
    n = len(comments)
    return pd.DataFrame(
        {
            "ts": ["2024-05-01"] * n,
            "metric": ["nps"] * n,
            "score": [3] * n,
            "response_id": [f"r{i}" for i in range(n)],
            "Kommentar": comments,
        }
    )


def test_ingest_redacts_before_storing():
    ws = rox.open("duckdb://:memory:")
    frame = _responses(["call me on +39 333 123 4567", "fine", None])
    ws.ingest("responses", frame, mapping={"columns": {"Kommentar": "comment"}})
    stored = ws.table("responses").execute().sort_values("response_id")
    assert stored["comment"].tolist()[:2] == ["call me on [PHONE]", "fine"]
    assert pd.isna(stored["comment"].iloc[2])
    assert "comment_original" not in stored.columns
    # loading the same rows again is recognised as already loaded (the key hashes the redacted text)
    report = ws.ingest("responses", frame, mapping={"columns": {"Kommentar": "comment"}})
    assert report.rows_skipped == 3
    assert report.rows_loaded == 0


def test_ingest_keeps_the_original_only_in_the_protected_column():
    ws = rox.open("duckdb://:memory:")
    mapping = {
        "columns": {"Kommentar": "comment"},
        "redact": {"keep_original": "comment_original", "plates": ["it"]},
    }
    ws.ingest("responses", _responses(["targa AB 123 CD, mail a@b.it"]), mapping=mapping)
    stored = ws.table("responses").execute()
    assert stored["comment"].tolist() == ["targa [PLATE], mail [EMAIL]"]
    assert stored["comment_original"].tolist() == ["targa AB 123 CD, mail a@b.it"]


def test_redaction_can_be_turned_off_and_misconfigured():
    ws = rox.open("duckdb://:memory:")
    frame = _responses(["a@b.it"])
    ws.ingest(
        "responses",
        frame,
        mapping={"columns": {"Kommentar": "comment"}, "redact": {"enabled": False}},
    )
    assert ws.table("responses").execute()["comment"].tolist() == ["a@b.it"]
    with pytest.raises(MappingError, match="unknown kind"):
        ws.ingest("responses", frame, mapping={"redact": {"kinds": ["dna"]}})
    with pytest.raises(MappingError, match="neither a preset"):
        ws.ingest("responses", frame, mapping={"redact": {"plates": ["[A-"]}})
    with pytest.raises(MappingError, match="must be a new column"):
        ws.ingest("responses", frame, mapping={"redact": {"keep_original": "comment"}})
