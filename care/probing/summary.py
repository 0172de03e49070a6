"""What a probing run writes of itself: the opening of ``results.json``
(dataset, encoder, protocol, feature normalisation), the summary of its runs
over folds and seeds, and the reference's name. Used by
:mod:`care.probing.loop`.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import numpy as np

from care.probing.metrics import summarize
from care.processing.normalization import describe_normalization

def results_header(hparams, protocol_info, data):
    """What every results.json opens with: the dataset, encoder, layers,
    protocol and number of utterances."""
    return {
        "dataset": hparams["dataset"],
        "encoder_source": str(hparams["encoder_source"]),
        "encoder_name": hparams["encoder_name"],
        "output_folder": os.path.abspath(hparams["output_folder"]),
        "layers": hparams["layers"],
        "pooling": hparams["pooling"],
        "protocol": protocol_info["description"],
        "protocol_info": protocol_info,
        "speaker_independent": protocol_info["speaker_independent"],
        "utterances": len(data),
    }


def normalization_results(normalization):
    """What ``results.json`` records of the feature normalisation: its report
    (not the statistics) and the line ``results.md`` prints."""
    report = {k: v for k, v in (normalization or {"mode": "none"}).items() if k not in ("mean", "std")}
    return {**report, "description": describe_normalization(report)}


def run_results(experiment, protocol_info, runs):
    """``results.json`` of a run (before the reference, timing, machine and
    classifier are added): the header, the normalisation, the task's fields
    and the metrics over folds and seeds."""
    hparams, task = experiment.hparams, experiment.task
    summary = summarize(runs, metrics=task.metrics)
    pooled = [task.pooled([r for r in runs if r["seed"] == seed]) for seed in hparams["seeds"]]
    return {
        **task.opening(),
        **results_header(hparams, protocol_info, experiment.data),
        "feature_normalization": normalization_results(experiment.normalization),
        **task.description(experiment.data),
        "seeds": list(hparams["seeds"]),
        "folds": list(summary["per_fold"]),
        "metrics": summary,
        "pooled_over_folds": {m: float(np.mean([p[m] for p in pooled])) for m in task.metrics},
        **task.extra_results(runs),
        "mean_layer_weights": [round(float(w), 4) for w in np.mean([r["layer_weights"] for r in runs], axis=0)],
        "runs": [{k: v for k, v in r.items() if k != "outputs"} for r in runs],
        "probe_head": hparams.get("probe_head", "probe"),
    }


def reference_name(reference):
    """``logistic regression (C=0.1)``: a reference function and its options."""
    keywords = getattr(reference, "keywords", {})
    func = getattr(reference, "func", reference)
    options = ", ".join(f"{k}={v}" for k, v in sorted(keywords.items()))
    return func.__name__.replace("_", " ") + (f" ({options})" if options else "")
