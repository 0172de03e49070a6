#!/usr/bin/env python3
"""Pretraining ablations: every variant of ``hparams/ablations.yaml`` trained
at the same step budget (``recipes/Pretrain/train.py``), every exported
encoder (and the learning-curve exports) probed the same way (the dataset
recipes' ``train.py hparams/probe.yaml``), one table.

Run from the repository root (or this folder)::

    python recipes/Pretrain/ablations.py hparams/ablations.yaml \\
        --data_folder ../shared/data --steps 1000 --output_folder results/ablations \\
        --probe EmoDB=../shared/data/emodb --probe URDU=../shared/data/urdu \\
        --train_args "--exclude [emodb/*,urdu/*]"

Each training and probing run is an ordinary recipe run in its own folder
(``<output_folder>/<variant>``, ``<output_folder>/probe/<encoder>/<dataset>``)
with its log beside it, so the script resumes: finished runs are skipped,
interrupted ones continue from their checkpoints. ``--parallel`` and
``--probe_parallel`` run several at once (one GPU holds several CARE-small
runs). Writes ``<output_folder>/ablations.md`` and ``ablations.json``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPES = os.path.dirname(HERE)


def resolve(path):
    """A path given relative to the current folder or to this recipe folder."""
    return path if os.path.exists(path) else os.path.join(HERE, path)


def option_args(options):
    """``{key: value}`` -> ``["--key", "value", ...]``; non-strings as JSON, which
    SpeechBrain's overrides read as YAML."""
    args = []
    for key, value in options.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def run(command, folder, log_name):
    """Runs one recipe command, its output to ``<folder>/<log_name>``; the
    return code."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, log_name), "a", encoding="utf-8") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        start = time.time()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
        log.write(f"# exit {code} after {time.time() - start:.0f} s\n")
    print(f"[{'ok' if code == 0 else f'FAILED ({code})'}] {folder}", flush=True)
    return code


def train_commands(spec, args):
    """``{variant: (command, output folder)}``."""
    config = os.path.join(os.path.dirname(os.path.abspath(resolve(args.hparams))), spec["config"])
    commands = {}
    for name, overrides in spec["variants"].items():
        if args.variants and name not in args.variants:
            continue
        output = os.path.join(args.output_folder, name)
        export = []
        curve = spec.get("curve_percent", []) if getattr(args, "curve_percent", None) is None else args.curve_percent
        if name in spec.get("curve_variants", []) and curve:
            steps = sorted({round(args.steps * p / 100) for p in curve})
            export = ["--export_steps", json.dumps(steps)]
        commands[name] = (
            [sys.executable, os.path.join(HERE, "train.py"), config,
             "--data_folder", args.data_folder, "--output_folder", output,
             "--optimizer_step_limit", str(args.steps), *export,
             *option_args(overrides or {}), *shlex.split(args.train_args)],
            output,
        )
    return commands


def encoders(output_folder, variants):
    """``{encoder name: exported folder}``: each variant's final export and
    its learning-curve exports (``encoder_step<N>``)."""
    found = {}
    for name in variants:
        folder = os.path.join(output_folder, name)
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            match = re.fullmatch(r"encoder(?:_step(\d+))?", entry)
            if match and os.path.isfile(os.path.join(folder, entry, "encoder.ckpt")):
                found[name if match.group(1) is None else f"{name}@{match.group(1)}"] = os.path.join(folder, entry)
    return found


def probe_command(dataset, data, encoder_folder, output, args, spec):
    recipe = os.path.join(RECIPES, dataset, "emotion", "train.py")
    if not os.path.isfile(recipe):
        raise SystemExit(f"--probe {dataset}=...: no recipe {recipe}")
    return [
        sys.executable, recipe, "hparams/probe.yaml", "--data_folder", data,
        "--encoder_source", encoder_folder, "--output_folder", output,
        "--prepare_folder", os.path.join(output, "prepared"),
        "--feature_folder", os.path.join(output, "features"),
        *[str(a) for a in spec.get("probe_options") or []], *shlex.split(args.probe_args),
    ]


def last_valid_stats(train_log):
    """The last ``valid ...`` line of a train_log.txt as ``{key: value}``."""
    if not os.path.isfile(train_log):
        return {}
    lines = [line for line in open(train_log, encoding="utf-8") if " - valid " in line]
    if not lines:
        return {}
    stats = {}
    for key, value in re.findall(r"valid (\S+): ([^,\s]+)", lines[-1]):
        try:
            stats[key] = float(value)
        except ValueError:
            pass
    step = re.search(r"step: (\d+)", lines[-1])
    stats["step"] = int(step.group(1)) if step else None
    return stats


def table(spec, args, found, datasets):
    rows, lines = [], []
    header = ["encoder", "steps", "valid acoustic / predict-zero", "valid semantic / mean embedding"]
    for dataset in datasets:
        header += [f"{dataset} wF1", f"{dataset} UA"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, folder in found.items():
        variant = name.split("@")[0]
        valid = last_valid_stats(os.path.join(args.output_folder, variant, "train_log.txt")) if "@" not in name else {}
        row = {"encoder": name, "folder": folder, "overrides": spec["variants"].get(variant), "valid": valid}
        cells = [f"`{name}`", name.split("@")[1] if "@" in name else str(valid.get("step", "")),
                 f"{valid['acoustic_vs_zero']:.3f}" if "acoustic_vs_zero" in valid else "",
                 f"{valid['semantic_vs_mean']:.3f}" if "semantic_vs_mean" in valid else ""]
        for dataset in datasets:
            path = os.path.join(args.output_folder, "probe", name, dataset, "results.json")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as fin:
                    result = json.load(fin)
                mean, std = result["metrics"]["mean"], result["metrics"]["std_folds"]
                row[dataset] = {"weighted_f1": mean["weighted_f1"], "ua": mean["ua"], "std_weighted_f1": std["weighted_f1"]}
                cells += [f"{100 * mean['weighted_f1']:.1f} ± {100 * std['weighted_f1']:.1f}", f"{100 * mean['ua']:.1f}"]
            else:
                cells += ["", ""]
        rows.append(row)
        lines.append("| " + " | ".join(cells) + " |")
    return rows, "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hparams", help="ablations YAML (relative to this folder or the current one)")
    parser.add_argument("--data_folder", required=True, help="pretraining corpora")
    parser.add_argument("--steps", type=int, required=True, help="optimizer steps of every variant")
    parser.add_argument("--output_folder", default="results/ablations")
    parser.add_argument("--probe", action="append", default=[], metavar="DATASET=FOLDER",
                        help="a probing recipe (recipes/DATASET/emotion) and its data folder; repeatable")
    parser.add_argument("--variants", default="", help="comma-separated subset of the YAML's variants")
    parser.add_argument("--curve_percent", default=None,
                        help="learning-curve exports as comma-separated %% of --steps, overriding the YAML's; 'none': no curve")
    parser.add_argument("--train_args", default="", help="extra options of every train.py run")
    parser.add_argument("--probe_args", default="", help="extra options of every probing run")
    parser.add_argument("--parallel", type=int, default=1, help="training runs at once")
    parser.add_argument("--probe_parallel", type=int, default=1, help="probing runs at once")
    parser.add_argument("--skip_training", action="store_true", help="probe what is exported")
    parser.add_argument("--table_only", action="store_true", help="only the table of what has finished")
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    if args.curve_percent is not None:
        try:
            args.curve_percent = [] if args.curve_percent == "none" else [float(p) for p in args.curve_percent.split(",")]
        except ValueError:
            raise SystemExit(f"--curve_percent takes numbers separated by commas, or 'none'; got {args.curve_percent!r}")
    with open(resolve(args.hparams), encoding="utf-8") as fin:
        spec = yaml.safe_load(fin)
    unknown = set(args.variants) - set(spec["variants"])
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; {args.hparams} has {sorted(spec['variants'])}")
    malformed = [item for item in args.probe if "=" not in item]
    if malformed:
        raise SystemExit(f"--probe takes DATASET=FOLDER (e.g. EmoDB=../shared/data/emodb); got {malformed}")
    datasets = dict(item.split("=", 1) for item in args.probe)

    if not (args.skip_training or args.table_only):
        commands = train_commands(spec, args)
        with ThreadPoolExecutor(args.parallel) as pool:
            codes = list(pool.map(lambda item: run(item[0], item[1], "stdout.log"), commands.values()))
        if any(codes):
            print("some training runs failed: see their stdout.log", flush=True)

    found = encoders(args.output_folder, args.variants or spec["variants"])
    jobs = [
        (probe_command(dataset, data, folder, os.path.join(args.output_folder, "probe", name, dataset), args, spec),
         os.path.join(args.output_folder, "probe", name, dataset))
        for name, folder in found.items()
        for dataset, data in datasets.items()
        if not os.path.isfile(os.path.join(args.output_folder, "probe", name, dataset, "results.json"))
        and not args.table_only
    ]
    with ThreadPoolExecutor(args.probe_parallel) as pool:
        list(pool.map(lambda job: run(job[0], job[1], "stdout.log"), jobs))

    rows, markdown = table(spec, args, found, list(datasets))
    from care.io import write_json, write_text  # atomic (temp file, then rename)

    write_json(os.path.join(args.output_folder, "ablations.json"),
               {"steps": args.steps, "train_args": args.train_args, "probe_args": args.probe_args, "rows": rows})
    write_text(os.path.join(args.output_folder, "ablations.md"), markdown)
    print(markdown)


if __name__ == "__main__":
    main()
