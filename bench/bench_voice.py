"""Benchmark: rox's comment pipeline (redaction, language, sentiment, themes) against plain
scikit-learn TF-IDF + NMF on the same comments.

The comments are synthetic but mostly distinct, as real ones are: each joins two of the 622
hand-labelled review sentences of ``tests/voice/data`` (same language, English 65%, Italian 35%),
and 5% carry personal data (a phone number, an email address, an IBAN). That gives about 190,000
distinct texts, so above that size comments repeat.

Timed, each in a fresh process (so that peak memory, ``VmHWM``, is the step's own):

* ``rox``: ``Redaction().redact_many`` (every comment), then ``rox.voice.analyse`` on a frame of
  the redacted comments: language (built-in stop words), sentiment (VADER, the Italian lexicon),
  themes (TF-IDF + NMF per language, merged, YAKE labels), every comment assigned a theme;
* ``peer``: scikit-learn alone, as a user would write it: ``TfidfVectorizer(stop_words="english",
  min_df=2, max_df=0.5)`` and ``NMF(n_components=10)`` on every comment, each comment's theme the
  largest coefficient. No redaction, language or sentiment: the peer does less, and is the floor.

BERTopic, the usual peer, cannot run offline (it fetches its embedding model from a hub), so it is
not measured here.

Usage::

    python bench/bench_voice.py --sizes 10000 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "voice" / "data"
PII = (
    " Call me on +39 347 123 4567.",
    " Write to anna.rossi@example.it.",
    " Refund to IT60 X054 2811 1010 0000 0123 456.",
)


def comments(n: int, seed: int = 0) -> list[str]:
    """``n`` synthetic comments (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pools = {
        lang: [
            line.split("\t")[1]
            for line in (DATA / f"sentiment-{lang}.tsv").read_text(encoding="utf-8").splitlines()
        ]
        for lang in ("en", "it")
    }
    italian = rng.random(n) < 0.35
    out = []
    a, b = rng.integers(0, 10**9, n), rng.integers(0, 10**9, n)
    pii = rng.random(n) < 0.05
    which = rng.integers(0, len(PII), n)
    for i in range(n):
        pool = pools["it" if italian[i] else "en"]
        text = pool[a[i] % len(pool)] + " " + pool[b[i] % len(pool)]
        out.append(text + PII[which[i]] if pii[i] else text)
    return out


def run_rox(n: int) -> dict[str, float]:
    import pandas as pd

    from rox.ingest.redact import Redaction
    from rox.voice import analyse

    texts = comments(n)
    c0 = time.process_time()
    t0 = time.perf_counter()
    redacted = Redaction().redact_many(texts)
    t1 = time.perf_counter()
    result = analyse(pd.DataFrame({"comment": redacted}))
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    frame = result.frame
    assert frame["theme"].notna().all() and len(frame) == n
    return {
        "seconds": t2 - t0,
        "cpu_s": cpu,
        "redact_s": t1 - t0,
        "analyse_s": t2 - t1,
        "themes": float(len(result.themes)),
        "unknown_language": float((frame["language"] == "unknown").mean()),
    }


def run_peer(n: int) -> dict[str, float]:
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = comments(n)
    c0 = time.process_time()
    t0 = time.perf_counter()
    x = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.5).fit_transform(texts)
    w = NMF(n_components=10, init="nndsvda", random_state=0, max_iter=400).fit_transform(x)
    theme = w.argmax(axis=1)
    t1 = time.perf_counter()
    assert len(theme) == n
    return {
        "seconds": t1 - t0,
        "cpu_s": time.process_time() - c0,
        "no_term": float((w.sum(axis=1) == 0).mean()),
    }


def one(which: str, n: int) -> None:
    """Run one measurement in this process and print it as JSON."""
    import warnings

    from _measure import status_mib

    warnings.simplefilter("ignore")
    out = run_rox(n) if which == "rox" else run_peer(n)
    out["peak_mib"] = status_mib("VmHWM")
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-up-to", type=int, default=10_000)
    parser.add_argument("--one", nargs=2, metavar=("WHICH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one[0], int(args.one[1]))
        return
    print(
        "| comments | tool | median wall s | median CPU s | comments/s (wall) | peak MiB | notes |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for n in args.sizes:
        tools = ["rox", "peer"] if n <= args.peer_up_to else ["rox"]
        runs: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
        repeats = args.repeats if n <= 100_000 else 1
        for _ in range(repeats):
            for tool in tools:  # interleaved
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", tool, str(n)],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=Path(__file__).parent,
                )
                runs[tool].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        medians = {t: statistics.median(r["seconds"] for r in rs) for t, rs in runs.items()}
        for tool, rs in runs.items():
            med = medians[tool]
            peak = max(r["peak_mib"] for r in rs)
            if tool == "rox":
                notes = (
                    f"redact {statistics.median(r['redact_s'] for r in rs):.2f} s, analyse "
                    f"{statistics.median(r['analyse_s'] for r in rs):.2f} s; {rs[0]['themes']:.0f} "
                    f"themes; language unknown {rs[0]['unknown_language']:.1%}"
                )
            else:
                notes = f"themes only; {rs[0]['no_term']:.1%} of comments with no term (no theme)"
            if "peer" in medians and tool == "rox":
                notes += f"; {med / medians['peer']:.1f}x the peer's time"
            cpu = statistics.median(r["cpu_s"] for r in rs)
            cells = [f"{n:,}", tool, f"{med:.2f}", f"{cpu:.2f}", f"{n / med:,.0f}", f"{peak:,.0f}"]
            print("| " + " | ".join([*cells, notes]) + " |")


if __name__ == "__main__":
    main()
