#!/usr/bin/env python3
"""Probe training speed from a cached feature file: a recipe's default run
(every fold and seed, the default head and members) timed in a fresh output
folder, beside the logistic-regression reference timed in the same process,
with both runs' weighted F1; optionally beside the probe-training time a
committed ``results.json`` of an earlier run recorded (``--before``).

The features are extracted once into ``--experiment_folder`` (the recipe's
own cache, reused by later runs); only probe training is timed. One line per
dataset on stdout and, with ``--output``, a JSON file.

    python benchmarks/probe_speed.py --datasets emodb --data_folder ../shared/data \\
        --encoder_source random:care_small \\
        --before emodb=docs/experiments/2026-12-03_many-speakers/results/EmoDB/random-care_small-linear_concat-mean_std/results.json
    python benchmarks/probe_speed.py --datasets emodb,nemo --data_folder ../shared/data \\
        --dataset_folder nemo=DATA/nEMO --encoder_source egemaps

``--data_folder`` holds the corpora under the names of ``recipes/benchmark.py``
(``emodb``, ``urdu``); ``--dataset_folder name=path`` gives any other.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes"))


def parse_pairs(values):
    """``["a=x", "b=y"]`` -> ``{"a": "x", "b": "y"}``."""
    pairs = {}
    for value in values or []:
        name, _, path = value.partition("=")
        if not path:
            sys.exit(f"probe_speed: expected name=path, got {value!r}")
        pairs[name.strip().lower()] = path
    return pairs


def time_dataset(recipe_dir, data_folder, encoder_source, experiment_folder, threads):
    """Runs the recipe (preparation and extraction cached in
    ``experiment_folder``) with its default head, every probe trained in a
    fresh output folder; returns the timings and scores."""
    from benchmark import run_dataset

    with tempfile.TemporaryDirectory() as output:
        argv = ["hparams/probe.yaml", "--data_folder", data_folder, "--encoder_source", encoder_source,
                "--experiment_folder", experiment_folder, "--export_classifier", "False",
                "--output_folder", output, "--noprogressbar"]
        if threads:
            argv += ["--probe_num_threads", str(threads)]
        started = time.perf_counter()
        results = run_dataset(recipe_dir, argv)
        total = time.perf_counter() - started
    timing = results["timing_seconds"]
    return {
        "dataset": results["dataset"],
        "encoder_source": encoder_source,
        "probe_head": results["probe_head"],
        "pooling": results["pooling"],
        "folds_x_seeds": len(results["runs"]),
        "utterances": results["utterances"],
        "probe_training_seconds": timing["probe_training_this_run"],
        "reference_seconds": timing["reference_this_run"],
        "run_seconds_with_preparation_and_loading": round(total, 1),
        "weighted_f1": round(100 * results["metrics"]["mean"]["weighted_f1"], 2),
        "reference_weighted_f1": round(100 * results["reference"]["metrics"]["mean"]["weighted_f1"], 2),
    }


def before_figures(path):
    """What an earlier run's results.json recorded: its probe-training time
    (the sum over folds and seeds), head and weighted F1."""
    with open(path, encoding="utf-8") as handle:
        results = json.load(handle)
    return {"results": str(path), "probe_head": results.get("probe_head"),
            "probe_training_seconds": results["timing_seconds"]["probe_training_all_runs"],
            "weighted_f1": round(100 * results["metrics"]["mean"]["weighted_f1"], 2),
            "machine": results.get("machine", {}).get("description")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", required=True, help="comma-separated recipe names (emodb,nemo,...)")
    parser.add_argument("--encoder_source", default="random:care_small")
    parser.add_argument("--data_folder", default="../shared/data")
    parser.add_argument("--dataset_folder", action="append", help="name=path for a corpus elsewhere")
    parser.add_argument("--experiment_folder", default="results",
                        help="where each recipe keeps its manifest and feature caches (<folder>/<Recipe>)")
    parser.add_argument("--before", action="append", help="name=results.json of an earlier run to compare with")
    parser.add_argument("--probe_num_threads", type=int, default=0, help="0: the recipe's setting")
    parser.add_argument("--output", help="write the figures as JSON here")
    args = parser.parse_args(argv)

    from benchmark import available_datasets

    recipes = available_datasets()
    folders, before = parse_pairs(args.dataset_folder), parse_pairs(args.before)
    rows = []
    for name in [n.strip().lower() for n in args.datasets.split(",") if n.strip()]:
        if name not in recipes:
            sys.exit(f"probe_speed: unknown dataset {name!r}; one of {', '.join(sorted(recipes))}")
        folder = folders.get(name) or os.path.join(args.data_folder, name)
        row = time_dataset(recipes[name], folder, args.encoder_source,
                           os.path.join(args.experiment_folder, recipes[name].parent.name), args.probe_num_threads)
        if name in before:
            row["before"] = before_figures(before[name])
        rows.append(row)
        text = (f"{row['dataset']} / {args.encoder_source} ({row['probe_head']}, {row['folds_x_seeds']} folds x seeds): "
                f"probe training {row['probe_training_seconds']:.1f} s, weighted F1 {row['weighted_f1']:.2f}; "
                f"logistic regression {row['reference_seconds']:.1f} s, {row['reference_weighted_f1']:.2f}")
        if "before" in row:
            text += (f"; before ({row['before']['probe_head']}): {row['before']['probe_training_seconds']:.1f} s, "
                     f"{row['before']['weighted_f1']:.2f}")
        print(text, flush=True)
    report = {"machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})",
              "command": "python benchmarks/probe_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "rows": rows}
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    main()
