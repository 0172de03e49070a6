#!/usr/bin/env python3
"""The plan's side study: do the further steps of Kaya and Karpov's cascade
(after speaker z-scoring, a non-linear value-level step and a feature-vector
level step) add to speaker normalisation? Reads a recipe's manifest, folds and
feature cache (made by the in-corpus runs) and prints one JSON line per
variant: the logistic-regression reference (C = 0.1, the recipe's folds,
training-fold standardisation as in every run), weighted F1 and UA, mean over
folds.

    python docs/experiments/2026-12-07_normalisation/cascade.py --corpus EmoDB \\
        --data_folder DATA/emodb --encoder_source egemaps --experiment_folder RUNS/normalisation/EmoDB

Variants: none; speaker (z-score by the speaker's own statistics); speaker_power
(then sign(x) * sqrt(|x|) per value); speaker_power_l2 (then each layer's vector
scaled to unit L2 norm).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from care.probing.metrics import summarize  # noqa: E402
from care.probing.reference import logistic_regression  # noqa: E402
from care.probing.run import feature_cache_path, protocol_splits  # noqa: E402
from care.processing.manifest import MANIFEST_FILE, load_manifest  # noqa: E402
from care.processing.normalization import normalize_features  # noqa: E402
from care.recipe import load_recipe  # noqa: E402

VARIANTS = ("none", "speaker", "speaker_power", "speaker_power_l2")


def variant_features(features, data, variant):
    """The features of one variant, ``{utt: [layers, dim]}``."""
    if variant == "none":
        return features
    out, _ = normalize_features(features, data, "speaker")
    if variant == "speaker":
        return out
    out = {u: v.sign() * v.abs().sqrt() for u, v in out.items()}
    if variant == "speaker_power":
        return out
    return {u: v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12) for u, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--encoder_source", required=True)
    parser.add_argument("--experiment_folder", required=True)
    args = parser.parse_args()
    _, _, _, hparams = load_recipe(str(REPO / "recipes" / args.corpus / "emotion"), [
        "hparams/probe.yaml", "--data_folder", args.data_folder, "--encoder_source", args.encoder_source,
        "--experiment_folder", args.experiment_folder])
    data = load_manifest(str(Path(hparams["prepare_folder"]) / MANIFEST_FILE))
    cache = torch.load(feature_cache_path(hparams), weights_only=True)
    features = dict(zip(cache["ids"], cache["features"]))
    data = {u: data[u] for u in features}
    splits, _ = protocol_splits(hparams, data)
    labels = sorted({e["label"] for e in data.values()})
    for variant in VARIANTS:
        started = time.time()
        runs = logistic_regression(variant_features(features, data, variant), data, splits, labels)
        summary = summarize(runs, metrics=("weighted_f1", "ua"))
        print(json.dumps({
            "corpus": args.corpus, "encoder": args.encoder_source, "variant": variant,
            "weighted_f1": round(100 * summary["mean"]["weighted_f1"], 2),
            "ua": round(100 * summary["mean"]["ua"], 2),
            "per_fold_wf1": [round(100 * f["weighted_f1"], 2) for f in summary["per_fold"].values()],
            "seconds": round(time.time() - started, 1),
        }), flush=True)


if __name__ == "__main__":
    main()
