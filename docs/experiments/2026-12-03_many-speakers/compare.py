#!/usr/bin/env python3
"""Pairwise comparisons of the plan's in-corpus rows, from results/<Corpus>/<run>/results.json:
for each corpus and pair of encoders both measured, the difference of their weighted F1 (points,
mean over folds, seeds averaged) and on how many test folds the first is higher.

    python docs/experiments/2026-12-03_many-speakers/compare.py [--reference]

--reference prints instead the logistic-regression reference (C = 0.1) that every run reports on
the same features and folds: weighted F1 per corpus and the mean over the five.
"""
import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPORA = ["EmoDB", "URDU", "nEMO", "ASED", "BAVED"]
NAMES = {"runs-care_small_pool_2k-encoder": "new pool", "runs-care_small_2k-encoder": "old pool",
         "random-care_small": "random", "egemaps": "eGeMAPS"}
PAIRS = [("new pool", "random"), ("old pool", "random"), ("new pool", "old pool"),
         ("new pool", "eGeMAPS"), ("old pool", "eGeMAPS")]


def reference_table(references):
    """Markdown rows of the reference's weighted F1 per encoder and corpus, and their mean."""
    print("| encoder | " + " | ".join(CORPORA) + " | mean |")
    print("|---|" + "---|" * (len(CORPORA) + 1))
    for name in ["eGeMAPS", "random", "old pool", "new pool"]:
        cells = [references.get((corpus, name)) for corpus in CORPORA]
        mean = "–" if None in cells else f"{100 * sum(cells) / len(cells):.1f}"
        print(f"| {name} | " + " | ".join("–" if x is None else f"{100 * x:.1f}" for x in cells) + f" | {mean} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="the logistic-regression reference table")
    args = parser.parse_args()
    runs, references = {}, {}
    for path in sorted((HERE / "results").glob("*/*/results.json")):
        result = json.loads(path.read_text())
        if result["encoder_name"] in NAMES:
            runs[path.parent.parent.name, NAMES[result["encoder_name"]]] = result["metrics"]
            references[path.parent.parent.name, NAMES[result["encoder_name"]]] = \
                result["reference"]["metrics"]["mean"]["weighted_f1"]
    if args.reference:
        reference_table(references)
        return
    print("| corpus | comparison | weighted F1 difference | test folds higher |")
    print("|---|---|---|---|")
    for corpus in CORPORA:
        for a, b in PAIRS:
            if (corpus, a) in runs and (corpus, b) in runs:
                x, y = runs[corpus, a], runs[corpus, b]
                diff = 100 * (x["mean"]["weighted_f1"] - y["mean"]["weighted_f1"])
                higher = sum(x["per_fold"][f]["weighted_f1"] > y["per_fold"][f]["weighted_f1"] for f in x["per_fold"])
                print(f"| {corpus} | {a} - {b} | {diff:+.1f} | {higher} of {len(x['per_fold'])} |")


if __name__ == "__main__":
    main()
