#!/usr/bin/env python3
"""The cross-dataset table: runs the emotion probe of every requested dataset
for every requested encoder, and writes one table of weighted F1 and UA per
dataset and their average over datasets (the paper's headline).

    python recipes/benchmark.py --encoder_source egemaps --encoder_source random:care_small \
        --datasets emodb,urdu --data_folder ../shared/data

- A dataset name is the lower-cased folder of a recipe ``recipes/<Dataset>/emotion/``
  (``emodb``, ``urdu``, ...); its data is ``<data_folder>/<name>`` unless
  ``--dataset_folder name=PATH`` says otherwise.
- Each (encoder, dataset) runs that recipe's ``train.py hparams/probe.yaml``
  in this process, with its own output folder and feature cache, so a second
  call reuses features and finished folds. Any further ``--key value``
  arguments are passed to every recipe (e.g. ``--seeds [1] --number_of_epochs 20``).
- Output: ``<output_folder>/benchmark.md`` and ``benchmark.json``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parent
sys.path.insert(0, str(RECIPES.parent))

from care.io import write_json, write_text  # noqa: E402


def available_datasets():
    """``{name: recipe folder}`` of every ``recipes/<Dataset>/emotion`` recipe."""
    return {
        path.parent.parent.name.lower(): path.parent
        for path in sorted(RECIPES.glob("*/emotion/train.py"))
    }


def run_dataset(recipe_dir, argv):
    """Runs a recipe's ``train.py`` ``main(argv)`` in this process."""
    sys.path.insert(0, str(recipe_dir))
    try:
        name = f"care_recipe_{recipe_dir.parent.name.lower()}"
        spec = importlib.util.spec_from_file_location(name, recipe_dir / "train.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.main(argv)
    finally:
        sys.path.remove(str(recipe_dir))


def table(rows, datasets):
    """Markdown table: one row per encoder, weighted F1 and UA (%) per
    dataset (mean ± std over folds), then the averages over datasets."""
    head = ["encoder"]
    for name in datasets:
        head += [f"{name} wF1", f"{name} UA"]
    head += ["average wF1", "average UA"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        cells = [f"`{row['encoder_source']}`"]
        for name in datasets:
            result = row["datasets"][name]
            for metric in ("weighted_f1", "ua"):
                cells.append(f"{100 * result['mean'][metric]:.1f} ± {100 * result['std'][metric]:.1f}")
        cells += [f"{100 * row['average']['weighted_f1']:.1f}", f"{100 * row['average']['ua']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Parses arguments, runs every probe, writes the table; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder_source", action="append", required=True,
                        help="repeat to put several encoders side by side")
    parser.add_argument("--datasets", default="emodb,urdu", help="comma-separated names")
    parser.add_argument("--data_folder", default="../shared/data",
                        help="folder holding one folder per dataset, named as the dataset")
    parser.add_argument("--dataset_folder", action="append", default=[],
                        help="NAME=PATH: the data of one dataset elsewhere")
    parser.add_argument("--output_folder", default="results/benchmark")
    args, passthrough = parser.parse_known_args(argv)

    known = available_datasets()
    datasets = [name.strip().lower() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in datasets if name not in known]
    if unknown:
        parser.error(f"unknown datasets {unknown}; recipes exist for {sorted(known)}")
    folders = {name: os.path.join(args.data_folder, name) for name in datasets}
    for item in args.dataset_folder:
        name, _, path = item.partition("=")
        folders[name.lower()] = path
    for name in datasets:
        if not os.path.isdir(folders[name]):
            parser.error(f"{name}: data folder {folders[name]} not found (use --dataset_folder)")

    rows = []
    for source in args.encoder_source:
        row = {"encoder_source": source, "datasets": {}}
        for name in datasets:
            results = run_dataset(
                known[name],
                ["hparams/probe.yaml", "--data_folder", folders[name],
                 "--encoder_source", source, *passthrough],
            )
            row["datasets"][name] = {
                "mean": results["metrics"]["mean"],
                "std": results["metrics"]["std_folds"],
                "folds": len(results["folds"]),
                "seeds": results["seeds"],
                "results": os.path.join(results["output_folder"], "results.md"),
            }
        row["average"] = {
            metric: sum(row["datasets"][n]["mean"][metric] for n in datasets) / len(datasets)
            for metric in ("weighted_f1", "ua")
        }
        rows.append(row)

    text = (
        "# Emotion probing across datasets\n\n"
        "Weighted F1 and UA (%), mean ± std over test folds (each fold averaged over seeds); "
        "the averages are over datasets.\n\n"
        + table(rows, datasets)
        + "\nCommand: `python recipes/benchmark.py "
        + " ".join(f"--encoder_source {s}" for s in args.encoder_source)
        + f" --datasets {','.join(datasets)} --data_folder {args.data_folder}"
        + (" " + " ".join(passthrough) if passthrough else "")
        + "`\n"
    )
    write_text(os.path.join(args.output_folder, "benchmark.md"), text)
    write_json(os.path.join(args.output_folder, "benchmark.json"), rows)
    print(text)
    return rows


if __name__ == "__main__":
    main()
