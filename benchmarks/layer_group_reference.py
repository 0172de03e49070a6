#!/usr/bin/env python3
"""Where in a CARE encoder a corpus's emotion information sits: the
logistic-regression reference (``care.probing.reference``, C = 0.1, all
non-test folds) on each layer group alone, for cached feature files of a
probing recipe (run the recipe once per encoder first).

    python benchmarks/layer_group_reference.py URDU random-care_small \\
        runs-care_small_2k-encoder_step500

Arguments: the recipe's results folder name (``results/<corpus>``) and feature
cache names (``results/<corpus>/features/<name>.pt``). Prints weighted F1 / UA
(%, mean over test folds) for all layers and for ``input``, ``shared``,
``semantic`` and ``acoustic`` (the groups of ``care_small``).

Authors
 * CARE for SpeechBrain contributors, 2026
"""
import sys

import torch

from care.probing.extractors import build_extractor
from care.probing.metrics import summarize
from care.probing.reference import logistic_regression
from care.processing.folds import fold_splits
from care.processing.manifest import load_manifest

GROUPS = ("all", "input", "shared", "semantic", "acoustic")


def main(corpus, names):
    data = load_manifest(f"results/{corpus}/prepared/data.json")
    splits = list(fold_splits(data, num_valid_folds=1))
    labels = sorted({entry["label"] for entry in data.values()})
    groups = build_extractor("random:care_small").layer_groups
    for name in names:
        cache = torch.load(f"results/{corpus}/features/{name}.pt", weights_only=True)
        features = dict(zip(cache["ids"], cache["features"]))
        cells = []
        for group in GROUPS:
            layers = None if group == "all" else groups[group]
            mean = summarize(logistic_regression(features, data, splits, labels, layers=layers))["mean"]
            cells.append(f"{group} {100 * mean['weighted_f1']:.1f}/{100 * mean['ua']:.1f}")
        print(corpus, name, " | ".join(cells), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
