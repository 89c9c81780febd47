"""Derive rox's Italian and French sentiment lexicons from Pattern's (BSD-3-Clause), for #18.

Reads ``pattern-it-sentiment.xml`` and ``pattern-fr-sentiment.xml`` (Pattern, CLiPS, University
of Antwerp; see ``src/rox/voice/data/PATTERN-LICENSE.txt``) and writes, per language, one line per
word form: ``form<TAB>polarity``, the polarity being the mean over the form's senses (parts of
speech), rounded to 3 decimals; forms whose mean polarity is 0 are dropped. Run from the repository
root::

    python scripts/derive_lexicons.py /path/to/lexicons
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path("src/rox/voice/data")


def derive(xml: Path) -> dict[str, float]:
    senses: dict[str, list[float]] = defaultdict(list)
    for word in ET.parse(xml).getroot().iter("word"):
        form = word.get("form", "").strip().lower()
        if form and " " not in form:
            senses[form].append(float(word.get("polarity", "0")))
    means = {f: round(sum(p) / len(p), 3) for f, p in senses.items()}
    return {f: p for f, p in sorted(means.items()) if p != 0}


def main(folder: str) -> None:
    for lang in ("it", "fr"):
        lexicon = derive(Path(folder) / f"pattern-{lang}-sentiment.xml")
        header = f"# derived from Pattern's {lang}-sentiment.xml (BSD-3-Clause, see PATTERN-LICENSE.txt) by scripts/derive_lexicons.py\n"
        body = "".join(f"{f}\t{p}\n" for f, p in lexicon.items())
        (OUT / f"{lang}-sentiment.tsv").write_text(header + body, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/lexicons")
