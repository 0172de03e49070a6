"""Probe configuration chosen on the validation speakers only (2026-11-30).

For every test fold and seed, among the candidate runs of one encoder (same folds, seeds and
validation group), take the run whose validation weighted F1 (the selected epoch's, before the
refit) is highest and report its test metrics. No test fold takes part in the choice.

    python select_on_valid.py CORPUS ENCODER_PREFIX [CANDIDATE_SUFFIX ...]
e.g. python select_on_valid.py URDU random-care_small mlp5 linear_concat linear_concat-mean_std mlp-mean_std
"""
import json, sys
from collections import Counter
import numpy as np

corpus, prefix, *suffixes = sys.argv[1:]
runs = {s: {(r["fold"], r["seed"]): r for r in json.load(open(f"results/{corpus}/{prefix}-{s}/results.json"))["runs"]}
        for s in suffixes}
keys = sorted(set.intersection(*(set(v) for v in runs.values())))
chosen, per_fold = Counter(), {}
for key in keys:
    best = max(suffixes, key=lambda s: runs[s][key]["valid_weighted_f1"])
    chosen[best] += 1
    per_fold.setdefault(key[0], []).append(runs[best][key]["test"])
for metric in ("weighted_f1", "ua"):
    folds = [np.mean([t[metric] for t in tests]) for tests in per_fold.values()]
    print(f"{corpus} {prefix} {metric}: {100 * np.mean(folds):.1f} ± {100 * np.std(folds, ddof=1):.1f}", end="; ")
print("chosen:", dict(chosen), f"({len(keys)} fold-seed pairs)")
for s in suffixes:
    folds = {}
    for (f, seed), r in runs[s].items():
        folds.setdefault(f, []).append(r["test"]["weighted_f1"])
    print(f"   {s}: test wF1 {100 * np.mean([np.mean(v) for v in folds.values()]):.1f}, "
          f"mean valid wF1 {100 * np.mean([r['valid_weighted_f1'] for r in runs[s].values()]):.1f}")
