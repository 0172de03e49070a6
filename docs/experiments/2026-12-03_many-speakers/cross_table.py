#!/usr/bin/env python3
"""The plan's cross-corpus table from results_cross/<train>-to-<test>/<encoder>/results.json (as
collect.py copies them): one row per ordered pair, one column per encoder, test weighted F1 / UA
(%, mean over seeds 1-3), and the mean over the pairs every encoder of the table has.

    python docs/experiments/2026-12-03_many-speakers/cross_table.py [--label NAME=TEXT ...]
        [--difference A=B ...]

--difference A=B adds a table of A's weighted F1 minus B's per pair (encoder names), with the
mean over the pairs both have and on how many of them A is higher.
"""
import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPORA = ["emodb", "urdu", "nemo", "ased"]


def load(folder):
    """{(train, test): {encoder_name: metrics["mean"]}} of every run found."""
    runs = {}
    for path in sorted(folder.glob("*-to-*/*/results.json")):
        train, _, test = path.parent.parent.name.partition("-to-")
        runs.setdefault((train, test), {})[path.parent.name] = json.loads(path.read_text())["metrics"]["mean"]
    return runs


def table(runs, labels):
    """Markdown rows; the mean row only over pairs that every column has."""
    encoders = list(labels) + sorted({e for cells in runs.values() for e in cells} - set(labels))
    pairs = [(a, b) for a in CORPORA for b in CORPORA if a != b]
    lines = ["| train -> test | " + " | ".join(labels.get(e, e) for e in encoders) + " |",
             "|---|" + "---|" * len(encoders)]
    for pair in pairs:
        cells = runs.get(pair, {})
        lines.append(f"| {pair[0]} -> {pair[1]} | " + " | ".join(
            f"{100 * cells[e]['weighted_f1']:.1f} / {100 * cells[e]['ua']:.1f}" if e in cells else "–"
            for e in encoders) + " |")
    complete = [p for p in pairs if all(e in runs.get(p, {}) for e in encoders)]
    if complete:
        means = [sum(runs[p][e][m] for p in complete) / len(complete) for e in encoders for m in ("weighted_f1", "ua")]
        lines.append(f"| **mean of {len(complete)} pairs** | " + " | ".join(
            f"**{100 * means[2 * i]:.1f}** / {100 * means[2 * i + 1]:.1f}" for i in range(len(encoders))) + " |")
    return "\n".join(lines)


def differences(runs, comparisons, labels):
    """Markdown rows: per pair, first minus second encoder's weighted F1 (points)."""
    pairs = [(a, b) for a in CORPORA for b in CORPORA if a != b]
    lines = ["| train -> test | " + " | ".join(f"{labels.get(a, a)} - {labels.get(b, b)}" for a, b in comparisons) + " |",
             "|---|" + "---|" * len(comparisons)]
    diffs = {c: {} for c in comparisons}
    for pair in pairs:
        cells = runs.get(pair, {})
        for a, b in comparisons:
            if a in cells and b in cells:
                diffs[a, b][pair] = 100 * (cells[a]["weighted_f1"] - cells[b]["weighted_f1"])
        lines.append(f"| {pair[0]} -> {pair[1]} | " + " | ".join(
            f"{diffs[c][pair]:+.1f}" if pair in diffs[c] else "–" for c in comparisons) + " |")
    lines.append("| **mean** (pairs; first higher on) | " + " | ".join(
        f"**{sum(d.values()) / len(d):+.1f}** ({len(d)}; {sum(v > 0 for v in d.values())})" if d else "–"
        for d in diffs.values()) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(HERE / "results_cross"))
    parser.add_argument("--label", action="append", default=[], help="ENCODER_NAME=column title (sets the order)")
    parser.add_argument("--difference", action="append", default=[], help="A=B: A's weighted F1 minus B's")
    args = parser.parse_args()
    labels = dict(item.split("=", 1) for item in args.label)
    runs = load(Path(args.results))
    print(table(runs, labels))
    if args.difference:
        print()
        print(differences(runs, [tuple(item.split("=", 1)) for item in args.difference], labels))


if __name__ == "__main__":
    main()
