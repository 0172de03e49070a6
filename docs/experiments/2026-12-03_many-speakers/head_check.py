#!/usr/bin/env python3
"""After the plan, not part of it: the default head (`linear_concat`) against `mlp` for the two
pretrained exports on ASED and BAVED, both over the same `mean_std` feature caches and folds,
seed 1 only (the plan's runs give their seed-1 test folds; results_head_check/ holds the `mlp`
runs, copied from RUNS/many_speakers_head_check by hand, machine folders written as RUNS).

    python docs/experiments/2026-12-03_many-speakers/head_check.py
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = {"runs-care_small_2k-encoder": "old pool", "runs-care_small_pool_2k-encoder": "new pool"}


def seed_mean(result, seed=1):
    """Weighted F1 over the test folds of one seed, and the folds."""
    runs = {r["fold"]: r["test"]["weighted_f1"] for r in result["runs"] if r["seed"] == seed}
    return sum(runs.values()) / len(runs), runs


def main():
    print("| corpus | export | `linear_concat` (plan's row, seed 1) | `mlp` (seed 1) | difference | folds where `linear_concat` is higher |")
    print("|---|---|---|---|---|---|")
    for path in sorted((HERE / "results_head_check").glob("*/*/results.json")):
        mlp = json.loads(path.read_text())
        corpus, name = path.parent.parent.name, mlp["encoder_name"]
        plan = json.loads((HERE / "results" / corpus / f"{name}-linear_concat-mean_std" / "results.json").read_text())
        a, folds_a = seed_mean(plan)
        b, folds_b = seed_mean(mlp)
        higher = sum(folds_a[f] > folds_b[f] for f in folds_a)
        print(f"| {corpus} | {NAMES[name]} | {100 * a:.1f} | {100 * b:.1f} | {100 * (a - b):+.1f} | {higher} of {len(folds_a)} |")


if __name__ == "__main__":
    main()
