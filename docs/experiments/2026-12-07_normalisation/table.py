#!/usr/bin/env python3
"""The plan's tables from the collected runs (the README's ``collect.py`` command): in corpus, one
row per encoder and normalisation with the logistic-regression reference
beside it (weighted F1, mean over folds of the seed-averaged values, per
corpus; the mean over the five corpora and over the four whose speakers speak
several emotions); across corpora, one row per pair and a column per encoder
and normalisation (test weighted F1, mean over seeds) with the mean over the
pairs each column has; then each normalisation's gain over ``none``.

    python docs/experiments/2026-12-07_normalisation/table.py [--results DIR] [--cross DIR]
"""

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPORA = ["EmoDB", "URDU", "nEMO", "ASED", "BAVED"]
SEVERAL = ["EmoDB", "nEMO", "ASED", "BAVED"]  # the plan's four "whose speakers speak several emotions"
EACH = ["EmoDB", "nEMO", "ASED"]  # those where every speaker does (most BAVED speakers speak one level)
PAIRS = [(a, b) for a in ("emodb", "urdu", "nemo", "ased") for b in ("emodb", "urdu", "nemo", "ased") if a != b]
NORMS = ["none", "speaker", "corpus"]


def encoder_of(name):
    """The encoder part of a run folder's name (``egemaps-speaker_norm`` -> ``egemaps``)."""
    for suffix in ("-linear_concat", "-mean_std", "-speaker_norm", "-corpus_norm"):
        name = name.replace(suffix, "")
    return name


def in_corpus(folder):
    """``{(encoder, norm): {corpus: (probe wF1, reference wF1, forced)}}``."""
    cells = {}
    for path in sorted(Path(folder).glob("*/*/results.json")):
        results = json.loads(path.read_text())
        recorded = results.get("feature_normalization") or {"mode": "none"}
        reference = results.get("reference", {}).get("metrics", {}).get("mean", {}).get("weighted_f1")
        cells.setdefault((encoder_of(path.parent.name), recorded["mode"]), {})[results["dataset"]] = (
            100 * results["metrics"]["mean"]["weighted_f1"], None if reference is None else 100 * reference,
            bool(recorded.get("single_label_speakers_allowed")))
    return cells


def mean(values):
    return sum(values) / len(values) if values else None


def in_corpus_table(cells):
    lines = ["| encoder | normalisation | " + " | ".join(CORPORA) + " | mean of 5 | mean of 4 (several emotions per speaker) |",
             "|---|---|" + "---|" * (len(CORPORA) + 2)]
    for (encoder, norm) in sorted(cells, key=lambda k: (k[0], NORMS.index(k[1]))):
        row = cells[encoder, norm]
        for which, title in ((0, norm), (1, f"{norm}: logistic regression")):
            values = {c: row[c][which] for c in CORPORA if c in row and row[c][which] is not None}
            text = [f"{values[c]:.1f}{' (forced)' if row[c][2] else ''}" if c in values else "–" for c in CORPORA]
            five = mean([values[c] for c in CORPORA]) if all(c in values for c in CORPORA) else None
            four = mean([values[c] for c in SEVERAL]) if all(c in values for c in SEVERAL) else None
            lines.append(f"| `{encoder}` | {title} | " + " | ".join(text) + " | "
                         + " | ".join("–" if v is None else f"{v:.1f}" for v in (five, four)) + " |")
    return "\n".join(lines)


def gains(cells):
    """Each normalisation minus none, per encoder and corpus (the default probe)."""
    lines = ["| encoder | normalisation - none | " + " | ".join(CORPORA)
             + " | mean of 4 (plan) | higher on (of 4) | mean of EmoDB, nEMO, ASED |",
             "|---|---|" + "---|" * (len(CORPORA) + 3)]
    for encoder in sorted({e for e, _ in cells}):
        base = cells.get((encoder, "none"), {})
        for norm in ("speaker", "corpus"):
            row = cells.get((encoder, norm), {})
            diff = {c: row[c][0] - base[c][0] for c in CORPORA if c in row and c in base}
            four = [diff[c] for c in SEVERAL if c in diff]
            lines.append(f"| `{encoder}` | {norm} | " + " | ".join(
                f"{diff[c]:+.1f}" if c in diff else "–" for c in CORPORA) + " | "
                + (f"{mean(four):+.1f}" if len(four) == 4 else "–") + " | "
                + (f"{sum(d > 0 for d in four)}" if len(four) == 4 else "–") + " | "
                + (f"{mean([diff[c] for c in EACH]):+.1f}" if all(c in diff for c in EACH) else "–") + " |")
    return "\n".join(lines)


def across(folder):
    """``{(encoder, norm): {(train, test): wF1}}``."""
    cells = {}
    for path in sorted(Path(folder).glob("*-to-*/*/results.json")):
        results = json.loads(path.read_text())
        train, _, test = path.parent.parent.name.partition("-to-")
        norm = (results.get("feature_normalization") or {"mode": "none"})["mode"]
        cells.setdefault((encoder_of(path.parent.name), norm), {})[train, test] = (
            100 * results["metrics"]["mean"]["weighted_f1"])
    return cells


def across_table(cells):
    columns = sorted(cells, key=lambda k: (k[0], NORMS.index(k[1])))
    lines = ["| train -> test | " + " | ".join(f"`{e}` {n}" for e, n in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for pair in PAIRS:
        lines.append(f"| {pair[0]} -> {pair[1]} | " + " | ".join(
            f"{cells[c][pair]:.1f}" if pair in cells[c] else "–" for c in columns) + " |")
    lines.append("| **mean** (pairs) | " + " | ".join(
        f"**{mean(list(cells[c].values())):.1f}** ({len(cells[c])})" for c in columns) + " |")
    lines.append("| gain over none on the same pairs (higher on) | " + " | ".join(
        _gain(cells, c) for c in columns) + " |")
    return "\n".join(lines)


def _gain(cells, column):
    base = cells.get((column[0], "none"), {})
    shared = [p for p in cells[column] if p in base]
    if column[1] == "none" or not shared:
        return "–"
    diffs = [cells[column][p] - base[p] for p in shared]
    return f"{mean(diffs):+.1f} ({sum(d > 0 for d in diffs)} of {len(diffs)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--cross", default=str(HERE / "results_cross"))
    args = parser.parse_args()
    cells = in_corpus(args.results)
    print("In corpus, weighted F1 (%), mean over folds (3 seeds):\n")
    print(in_corpus_table(cells))
    print("\nGain over none (default probe), points:\n")
    print(gains(cells))
    crossed = across(args.cross)
    if crossed:
        print("\nAcross corpora, test weighted F1 (%), mean over seeds 1-3:\n")
        print(across_table(crossed))


if __name__ == "__main__":
    main()
