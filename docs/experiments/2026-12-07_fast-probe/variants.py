#!/usr/bin/env python3
"""Runs variants of the linear head (and the default heads) on a recipe's
cached features, each in its own output folder, and prints one JSON line per
run: weighted F1 (mean over folds), the logistic-regression reference's, the
probe-training seconds and the C each fold used.

    python docs/experiments/2026-12-07_fast-probe/variants.py --corpus EmoDB \\
        --data_folder ../shared/data/emodb --encoder_source random:care_small \\
        --experiment_folder results/EmoDB --output_root results/fast-probe grid_bal c01_bal mlp

Variants: grid_bal / grid_nobal (C chosen among 0.01-1 by cross-validation over
the training speakers, class-balanced or not, 100 L-BFGS iterations per C),
grid_bal_50 (50 iterations), c01_bal / c01_nobal (C = 0.1), and the recipe's
own heads by name (linear_concat, mlp).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from care.probing.run import run_probing  # noqa: E402
from care.recipe import load_recipe  # noqa: E402

GRID = [0.01, 0.03, 0.1, 0.3, 1.0]
VARIANTS = {
    "grid_bal": dict(C=GRID, balance_classes=True),
    "grid_nobal": dict(C=GRID, balance_classes=False),
    "grid_bal_50": dict(C=GRID, balance_classes=True, max_iterations=50),
    "c01_bal": dict(C=[0.1], balance_classes=True),
    "c01_nobal": dict(C=[0.1], balance_classes=False),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="recipe folder name (EmoDB, URDU, ...)")
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--encoder_source", required=True)
    parser.add_argument("--experiment_folder", required=True, help="the recipe's manifest and feature caches")
    parser.add_argument("--output_root", required=True)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    recipe_dir = REPO / "recipes" / args.corpus / "emotion"
    for variant in args.variants:
        head = ["--probe_head", variant] if variant not in VARIANTS else []
        _, run_opts, _, hparams = load_recipe(str(recipe_dir), [
            "hparams/probe.yaml", "--data_folder", args.data_folder, "--encoder_source", args.encoder_source,
            "--experiment_folder", args.experiment_folder, "--export_classifier", "False",
            "--noprogressbar", *head])
        if variant in VARIANTS:
            hparams["head"] = dict(hparams["probe_heads"]["linear_concat"], **VARIANTS[variant])
        hparams["output_folder"] = os.path.join(args.output_root, args.corpus,
                                                args.encoder_source.replace(":", "-"), variant)
        hparams["save_folder"] = os.path.join(hparams["output_folder"], "save")
        os.makedirs(hparams["output_folder"], exist_ok=True)
        started = time.time()
        results = run_probing(hparams, run_opts)
        print(json.dumps({
            "corpus": args.corpus, "encoder": args.encoder_source, "variant": variant,
            "wf1": round(100 * results["metrics"]["mean"]["weighted_f1"], 2),
            "ref": round(100 * results["reference"]["metrics"]["mean"]["weighted_f1"], 2),
            "seconds": round(time.time() - started, 1),
            "probe_seconds": results["timing_seconds"]["probe_training_all_runs"],
            "C": [r.get("C") for r in results["runs"] if r["seed"] == results["seeds"][0]],
        }), flush=True)


if __name__ == "__main__":
    main()
