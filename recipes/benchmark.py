#!/usr/bin/env python3
"""The cross-dataset table: runs the emotion probe of every requested dataset
for every requested encoder, and writes one table of weighted F1 and UA per
dataset and their average over datasets (the abstract of arXiv 2409.05566
ranks encoders by their average performance across datasets).

    python recipes/benchmark.py --encoder_source egemaps --encoder_source random:care_small \
        --datasets emodb,urdu --data_folder ../shared/data

- A dataset name is the lower-cased folder of a recipe ``recipes/<Dataset>/emotion/``
  (``emodb``, ``urdu``, ...); its data is ``<data_folder>/<name>`` unless
  ``--dataset_folder name=PATH`` says otherwise.
- Each (encoder, dataset) runs that recipe's ``train.py hparams/probe.yaml``
  in this process, with its own output folder and feature cache, so a second
  call reuses features and finished folds. Any further ``--key value``
  arguments are passed to every recipe (e.g. ``--seeds [1] --number_of_epochs 20``).
- ``--protocol speaker_independent --protocol emobox --emobox_folds DIR`` puts
  both protocols side by side for each encoder (EmoBox's fold files are the
  user's, see ``care/probing/emobox.py``); a result whose test speakers also
  train is marked in the table.
- ``--reference_csv FILE`` adds reference rows (e.g. the published EmoBox
  figures for base-sized models) from a CSV the user writes, with columns
  ``encoder,dataset,protocol,weighted_f1,ua,source`` (percent; the source is
  printed under the table). No reference figure is stored in this code.
- Every encoder's row is followed by the logistic-regression reference on the
  same features and test folds (``care/probing/reference.py``; probe column
  ``logistic regression``), so the table shows what the probe itself adds;
  ``--reference null`` leaves it out. ``--probe_head linear_concat`` (or
  ``linear``, ``authors``) is passed to the recipes like any other option.
- ``--task dimensional`` runs the recipes' regression of arousal, valence and
  dominance (``care/probing/dimensional.py``; corpora with attributes:
  ``iemocap``, ``msp-podcast``) and the table shows, per dataset, the mean
  CCC over attributes and the CCC of each (arousal / valence / dominance),
  mean over test folds; the reference row is the ridge regression.
- Output: ``<output_folder>/benchmark.md`` and ``benchmark.json``;
  ``--plot FILE.png`` also draws the first metric (weighted F1, or mean CCC)
  per encoder and dataset, each bar the mean over test folds with every
  fold's value as a dot (``care.plots.plot_scores``).
- ``--results RUNS_DIR --markdown`` runs nothing: it reads the probing runs
  already in ``RUNS_DIR/<Dataset>/<run folder>/results.json`` and prints one
  Markdown table, a row per encoder and probe configuration, a column per
  corpus (weighted F1 mean ± std over folds / UA) and their mean (the table
  the top-level README embeds). ``--label NAME=TEXT`` names a row (NAME: the
  run's ``encoder_name`` or ``encoder_source``) and orders the rows;
  ``--plot FILE.png`` draws the table's weighted F1, fold by fold;
  ``--with_reference`` puts each run's logistic-regression reference row
  beside it. A row names its feature normalisation (``speaker-normalised``,
  ``corpus-normalised``; none when it says nothing), so that no normalised
  row is read as an unnormalised one. ``--normalization default`` (or
  ``none``, ``speaker``, ``corpus``; repeat it for several row groups, in
  that order) keeps only those runs: ``default`` each corpus with its
  recipe's current ``feature_normalization`` (``speaker``; URDU ``none``),
  the row saying which; ``none`` rows say "no normalisation".

    python recipes/benchmark.py --results docs/experiments/2026-12-03_many-speakers/results --markdown \
        --label egemaps="eGeMAPS functionals" --label random-care_small="CARE-small, random weights"

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import functools
import json
import os
import re
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parent
sys.path.insert(0, str(RECIPES.parent))

from care.io import write_json, write_text  # noqa: E402
from care.plots import plot_scores  # noqa: E402
from care.probing.emobox import read_reference_csv  # noqa: E402
from care.processing.folds import PROTOCOLS  # noqa: E402
from care.recipe import load_script, user_errors  # noqa: E402

NOT_INDEPENDENT = "†"
# Per task: the metrics of the table (the first two are averaged over datasets).
TASK_METRICS = {
    "categorical": ("weighted_f1", "ua"),
    "dimensional": ("ccc_mean", "ccc_arousal", "ccc_valence", "ccc_dominance"),
}


def available_datasets():
    """``{name: recipe folder}`` of every ``recipes/<Dataset>/emotion`` recipe."""
    return {
        path.parent.parent.name.lower(): path.parent
        for path in sorted(RECIPES.glob("*/emotion/train.py"))
    }


def run_dataset(recipe_dir, argv):
    """Runs a recipe's ``train.py`` ``main(argv)`` in this process."""
    name = f"care_recipe_{recipe_dir.parent.name.lower()}"
    return load_script(recipe_dir / "train.py", name).main(argv)


def table(rows, datasets, references=(), task="categorical"):
    """Markdown table: one row per encoder, probe and protocol, weighted F1
    and UA (%) per dataset (mean ± std over folds; † when test speakers also
    train), then the averages over datasets; reference rows last. For
    ``task="dimensional"``, see :func:`dimensional_table`."""
    if task == "dimensional":
        return dimensional_table(rows, datasets)
    head = ["encoder", "probe", "protocol"]
    for name in datasets:
        head += [f"{name} wF1", f"{name} UA"]
    head += ["average wF1", "average UA"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        cells = [f"`{row['encoder_source']}`", row.get("probe", "probe"),
                 row.get("protocol", "speaker_independent")]
        for name in datasets:
            result = row["datasets"][name]
            mark = "" if result.get("speaker_independent", True) else " " + NOT_INDEPENDENT
            for metric in ("weighted_f1", "ua"):
                cells.append(f"{100 * result['mean'][metric]:.1f} ± {100 * result['std'][metric]:.1f}{mark}")
        cells += [f"{100 * row['average']['weighted_f1']:.1f}", f"{100 * row['average']['ua']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    for ref in reference_rows(references, datasets):
        cells = [f"reference: {ref['encoder']}", "", ref["protocol"]]
        for name in datasets:
            for metric in ("weighted_f1", "ua"):
                value = ref["datasets"].get(name, {}).get(metric)
                cells.append("–" if value is None else f"{value:.1f}")
        cells += ["–" if ref["average"][m] is None else f"{ref['average'][m]:.1f}"
                  for m in ("weighted_f1", "ua")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def dimensional_table(rows, datasets):
    """Markdown table of dimensional runs: per dataset the mean CCC over
    attributes (± std over folds) and the CCC of arousal / valence /
    dominance (– when absent), then the mean CCC averaged over datasets."""
    head = ["encoder", "probe", "protocol"]
    for name in datasets:
        head += [f"{name} CCC", f"{name} CCC aro / val / dom"]
    head += ["average CCC"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        cells = [f"`{row['encoder_source']}`", row.get("probe", "probe"),
                 row.get("protocol", "speaker_independent")]
        for name in datasets:
            result = row["datasets"][name]
            mark = "" if result.get("speaker_independent", True) else " " + NOT_INDEPENDENT
            cells.append(f"{result['mean']['ccc_mean']:.3f} ± {result['std']['ccc_mean']:.3f}{mark}")
            cells.append(" / ".join(
                "–" if f"ccc_{a}" not in result["mean"] else f"{result['mean'][f'ccc_{a}']:.3f}"
                for a in ("arousal", "valence", "dominance")))
        cells.append(f"{row['average']['ccc_mean']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def reference_rows(references, datasets):
    """Groups reference CSV rows (``read_reference_csv``) by encoder and
    protocol, keeping the requested datasets; an average only when every
    dataset has the figure."""
    grouped = {}
    for ref in references:
        if ref["dataset"] not in datasets:
            continue
        row = grouped.setdefault((ref["encoder"], ref["protocol"]), {
            "encoder": ref["encoder"], "protocol": ref["protocol"], "datasets": {}, "sources": set()})
        row["datasets"][ref["dataset"]] = {"weighted_f1": ref["weighted_f1"], "ua": ref["ua"]}
        row["sources"].add(ref["source"])
    for row in grouped.values():
        row["average"] = {}
        for metric in ("weighted_f1", "ua"):
            values = [row["datasets"].get(n, {}).get(metric) for n in datasets]
            row["average"][metric] = None if None in values else sum(values) / len(values)
        row["sources"] = sorted(row["sources"])
    return list(grouped.values())


def _cell(results, metrics):
    """One dataset's entry of a table row."""
    return {
        "mean": metrics["mean"],
        "std": metrics["std_folds"],
        "folds": len(metrics["per_fold"]),
        "per_fold": metrics["per_fold"],
        "seeds": results["seeds"],
        "speaker_independent": results.get("speaker_independent", True),
        "protocol": results["protocol"],
        "results": os.path.join(results["output_folder"], "results.md"),
    }


RESULTS_KEYS = ("dataset", "encoder_source", "encoder_name", "layers", "metrics")


def read_run_results(root):
    """The ``results.json`` of every categorical run in
    ``<root>/<Dataset>/<run folder>/``, sorted by path; a missing ``root``,
    a file that is not JSON or one that lacks a value the table needs is an
    error naming it."""
    if not Path(root).is_dir():
        raise ValueError(f"--results {root}: no such folder")
    runs = []
    for path in sorted(Path(root).glob("*/*/results.json")):
        try:
            with open(path, encoding="utf-8") as handle:
                results = json.load(handle)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable results.json ({error})") from error
        problem = _results_problem(results)
        if problem:
            raise ValueError(f"{path}: {problem} (not a finished probing run's results.json)")
        if "weighted_f1" not in results["metrics"]["mean"]:
            continue  # a dimensional run: its CCC table is the recipes' own
        runs.append((path, results))
    return runs


def _results_problem(results):
    """What a results.json lacks for the table, or None."""
    if not isinstance(results, dict):
        return f"a JSON {type(results).__name__}, not an object"
    missing = [key for key in RESULTS_KEYS if key not in results]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(results["dataset"], str) or not results["dataset"]:
        return f"dataset is {results['dataset']!r}"
    metrics = results["metrics"]
    if not isinstance(metrics, dict):
        return f"metrics is a {type(metrics).__name__}"
    for key in ("mean", "std_folds", "per_fold"):
        if not isinstance(metrics.get(key), dict):
            return f"no metrics.{key}"
    if "weighted_f1" not in metrics["mean"]:
        return None if "ccc_mean" in metrics["mean"] else "metrics.mean has neither weighted_f1 nor ccc_mean"
    for key in ("weighted_f1", "ua"):
        for part in ("mean", "std_folds"):
            value = metrics[part].get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
                return f"metrics.{part}.{key} is {value!r}, not a number"
    return None


def normalization_note(results):
    """``""``, or ``, speaker-normalised`` / ``, corpus-normalised``: what a
    table row says of a run's ``feature_normalization``."""
    recorded = results.get("feature_normalization") or {}
    mode = recorded.get("mode", "none")
    if mode == "none":
        return ""
    forced = " (forced: most utterances of one-label speakers)" if recorded.get("single_label_speakers_allowed") else ""
    return f", {mode}-normalised{forced}"


@functools.lru_cache(maxsize=None)
def recipe_normalization(dataset):
    """The ``feature_normalization`` a dataset's recipe sets by default (its
    ``hparams/probe.yaml``), or None for a dataset without a recipe.

    Example
    -------
    >>> recipe_normalization("EmoDB"), recipe_normalization("URDU"), recipe_normalization("nowhere")
    ('speaker', 'none', None)
    """
    recipe = available_datasets().get(dataset.lower())
    if recipe is None:
        return None
    found = re.search(r"^feature_normalization:\s*(\w+)", (recipe / "hparams" / "probe.yaml").read_text(), re.M)
    return found.group(1) if found else None


def _run_mode(results):
    """A run's normalisation (``none`` before the option existed) and whether
    ``speaker`` was forced on single-label speakers."""
    recorded = results.get("feature_normalization") or {}
    return recorded.get("mode", "none"), bool(recorded.get("single_label_speakers_allowed"))


def _normalization_groups(results, normalizations):
    """``(rank, note)`` of each ``--normalization`` row group a run belongs to
    (all its runs in one group, with :func:`normalization_note`, without the
    option)."""
    if not normalizations:
        return [(0, normalization_note(results))]
    mode, forced = _run_mode(results)
    groups = []
    for rank, wanted in enumerate(normalizations):
        if wanted == "default" and mode == recipe_normalization(results["dataset"]):  # forced: named by the row
            groups.append((rank, ", the recipes' defaults"))
        elif wanted == mode:
            groups.append((rank, normalization_note(results) or ", no normalisation"))
    return groups


def _name_defaults(rows, ranks):
    """Renames the rows of the recipes' defaults by what those are: the mode
    most of their corpora use, and the corpora that use another."""
    for key in [k for k in rows if ", the recipes' defaults" in k[1]]:
        modes = {}
        for dataset, (_, results) in rows[key].items():
            mode, forced = _run_mode(results)
            modes[dataset] = mode + (", forced" if forced else "")
        values = list(modes.values())  # the most common; a tie goes to a normalisation
        common = max(sorted(set(values)), key=lambda mode: (values.count(mode), not mode.startswith("none")))
        text = "no normalisation" if common == "none" else f"{common}-normalised"
        others = [f"{d}: {'no normalisation' if m == 'none' else m}" for d, m in modes.items() if m != common]
        renamed = (key[0], key[1].replace("the recipes' defaults", f"the recipes' defaults, {text}"
                                          + (f" ({'; '.join(others)})" if others else "")))
        rows[renamed] = rows.pop(key)
        ranks[renamed] = ranks.pop(key)


def _result_rows(root, labels=(), columns=None, reference=False, normalizations=None):
    """The runs under ``root`` (restricted to ``columns``, any case), grouped:
    ``(runs, rows, datasets, ranks)`` with ``rows[(name, probe)][dataset] =
    (path, results)``, ``name`` the label's key when ``labels`` names the
    run; with ``reference``, each run's logistic-regression reference as a
    row of its own beside it (probe ``... → logistic regression (C=0.1)``);
    ``normalizations`` (``--normalization``): only the runs of those row
    groups, ``ranks[(name, probe)]`` the group's place."""
    runs = read_run_results(root)
    if columns is not None:
        wanted = [name.lower() for name in columns]
        runs = [(path, results) for path, results in runs if results["dataset"].lower() in wanted]
    labels = dict(labels)
    rows, datasets, ranks, kept = {}, [], {}, []
    for path, results in runs:
        groups = _normalization_groups(results, normalizations)
        if not groups:
            continue
        kept.append((path, results))
        name = next((n for n in (results["encoder_name"], results["encoder_source"]) if n in labels),
                    results["encoder_name"])
        probe = f"`{results.get('probe_head', 'mlp')}`, `{results.get('pooling', 'mean')}` pooling"
        if results["layers"] != "all":
            probe += f", layers `{results['layers']}`"
        for rank, note in groups:
            key = (name, probe + note + ("" if results.get("speaker_independent", True) else f" {NOT_INDEPENDENT}"))
            row = rows.setdefault(key, {})
            dataset = results["dataset"]
            if dataset in row:
                raise ValueError(f"{path} and {row[dataset][0]}: two runs of the same encoder and probe on {dataset}")
            row[dataset], ranks[key] = (path, results), rank
            if reference and "reference" in results:
                ref = dict(results, metrics=results["reference"]["metrics"])
                key = (key[0], key[1] + f" → {results['reference']['name']}")
                rows.setdefault(key, {})[dataset], ranks[key] = (path, ref), rank
        if results["dataset"] not in datasets:
            datasets.append(results["dataset"])
    _name_defaults(rows, ranks)
    if columns is None:
        datasets.sort(key=str.lower)
    else:  # the runs' spelling of each name
        found = {name.lower(): name for name in datasets}
        datasets = [found.get(name.lower(), name) for name in columns]
    return kept, rows, datasets, ranks


def _ordered(rows, labels, ranks=None):
    """The keys of ``rows`` in table order: by row group (``ranks``), then
    labelled names first, in the labels' order, then the rest sorted."""
    rank = {name: i for i, name in enumerate(labels)}
    return sorted(rows, key=lambda key: ((ranks or {}).get(key, 0), rank.get(key[0], len(rank)), key))


def plot_results(root, labels, columns, path, normalizations=None):
    """``--results ... --plot FILE``: weighted F1 of every row of
    :func:`results_table`, fold by fold (:func:`care.plots.plot_scores`);
    rows named by their label when given, in the table's order."""
    runs, rows, datasets, ranks = _result_rows(root, labels, columns, normalizations=normalizations)
    if not runs:
        raise ValueError(f"no probing results under {root} to plot")
    labels = dict(labels)
    series, encoders = {}, {}
    for name, probe in _ordered(rows, labels, ranks):
        title = labels.get(name, name) + ("" if len({p for n, p in rows if n == name}) == 1
                                          else f" ({probe.replace('`', '')})")
        series[title] = {dataset: [100 * fold["weighted_f1"] for fold in results["metrics"]["per_fold"].values()]
                         for dataset, (_, results) in rows[(name, probe)].items()}
        encoders[title] = name  # an encoder's rows share a colour; its later rows are hatched
    return plot_scores(series, datasets, path, metric="weighted F1 (%)",
                       title="mean over test folds (bar), each fold (dot), std over folds (line)",
                       colour_keys=encoders)


def results_table(root, labels=(), columns=None, reference=False, normalizations=None):
    """Markdown table of the runs under ``root`` (see :func:`read_run_results`):
    one row per encoder and probe configuration (head, pooling, layers,
    protocol), one column per corpus (weighted F1 mean ± std over folds / UA,
    %), and the mean over corpora when a row has them all. ``labels``:
    ``(name, text)`` pairs naming rows by ``encoder_name`` or
    ``encoder_source``; labelled rows come first, in that order.
    ``columns``: the corpora, in this order (any case; runs of other corpora
    left out); None: every corpus of the runs, sorted. ``reference``: each
    row followed by its logistic-regression reference (same features, folds).
    ``normalizations``: the row groups of ``--normalization``.
    With no run under ``root``, one line that says so."""
    runs, rows, datasets, ranks = _result_rows(root, labels, columns, reference, normalizations)
    if not runs:
        return f"No probing results under `{root}` yet (`<Dataset>/<run folder>/results.json`).\n"
    labels = dict(labels)
    head = ["encoder", "probe"] + datasets + ["mean"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, probe in _ordered(rows, labels, ranks):
        row = rows[(name, probe)]
        cells = [labels.get(name, f"`{name}`"), probe]
        for dataset in datasets:
            if dataset not in row:
                cells.append("–")
                continue
            metrics = row[dataset][1]["metrics"]
            cells.append(f"{100 * metrics['mean']['weighted_f1']:.1f} ± "
                         f"{100 * metrics['std_folds']['weighted_f1']:.1f} / {100 * metrics['mean']['ua']:.1f}")
        if len(row) == len(datasets):
            means = [sum(r[1]["metrics"]["mean"][m] for r in row.values()) / len(row) for m in ("weighted_f1", "ua")]
            cells.append(f"{100 * means[0]:.1f} / {100 * means[1]:.1f}")
        else:
            cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({str(results.get("seeds")) for _, results in runs})
    lines += ["", f"Weighted F1 ± std over test folds / UA, % (each fold averaged over seeds {', '.join(seeds)}); "
              "mean: over the corpora of the row. "
              + (f"{NOT_INDEPENDENT} not speaker-independent. " if any(
                  not results.get("speaker_independent", True) for _, results in runs) else "")
              + ("speaker-normalised: each speaker z-scored by their own statistics over all their "
                 "utterances, test speakers included (transductive per speaker, labels never read). "
                 if any(normalization_note(results).startswith(", speaker") for _, results in runs) else "")
              + ("corpus-normalised: each corpus z-scored by its own statistics. "
                 if any(normalization_note(results) == ", corpus-normalised" for _, results in runs) else "")
              + ("the recipes' defaults: each corpus with its recipe's `feature_normalization`. "
                 if any("the recipes' defaults" in probe for _, probe in rows) else "")
              + "Each run's folds, spread and reference: its `results.md`."]
    return "\n".join(lines) + "\n"


def plot_benchmark(rows, datasets, metric, path):
    """Draws ``metric`` of every row (encoder, probe, protocol) per dataset,
    fold by fold (:func:`care.plots.plot_scores`); weighted F1 and UA in %."""
    scale = 1 if metric.startswith("ccc") else 100
    series = {}
    for row in rows:
        name = f"{row['encoder_source']} / {row.get('probe', 'probe')}"
        if row.get("protocol", "speaker_independent") != "speaker_independent":
            name += f" ({row['protocol']})"
        series[name] = {
            dataset: [scale * fold[metric] for fold in row["datasets"][dataset]["per_fold"].values()]
            for dataset in datasets if dataset in row["datasets"]
        }
    label = {"weighted_f1": "weighted F1 (%)", "ua": "UA (%)"}.get(metric, metric.replace("_", " "))
    return plot_scores(series, datasets, path, metric=label,
                       title="mean over test folds (bar), each fold (dot), std over folds (line)")


def main(argv=None):
    """Parses arguments, runs every probe, writes the table; returns the rows.
    With ``--results``, builds the table from finished runs instead."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder_source", action="append",
                        help="repeat to put several encoders side by side")
    parser.add_argument("--results", default=None,
                        help="RUNS_DIR: build the table from RUNS_DIR/<Dataset>/<run folder>/results.json; run nothing")
    parser.add_argument("--markdown", action="store_true",
                        help="with --results: print only the Markdown table (what the README embeds)")
    parser.add_argument("--label", action="append", default=[],
                        help="with --results: NAME=TEXT names the row of encoder NAME; rows follow this order")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated names (default emodb,urdu); with --results: the columns, in this order")
    parser.add_argument("--data_folder", default="../shared/data",
                        help="folder holding one folder per dataset, named as the dataset")
    parser.add_argument("--dataset_folder", action="append", default=[],
                        help="NAME=PATH: the data of one dataset elsewhere")
    parser.add_argument("--output_folder", default="results/benchmark")
    parser.add_argument("--protocol", action="append", choices=PROTOCOLS,
                        help="repeat to put protocols side by side (default: speaker_independent)")
    parser.add_argument("--emobox_folds", default=None,
                        help="EmoBox's data/ folder (the user's copy), for --protocol emobox")
    parser.add_argument("--task", default="categorical", choices=sorted(TASK_METRICS),
                        help="dimensional: arousal, valence, dominance (CCC) instead of classes")
    parser.add_argument("--reference_csv", default=None,
                        help="reference figures: encoder,dataset,protocol,weighted_f1,ua,source")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="also draw the scores per encoder and dataset with their spread "
                        "over test folds (format from the extension: png, svg, pdf)")
    parser.add_argument("--with_reference", action="store_true",
                        help="with --results: each row followed by its logistic-regression reference")
    parser.add_argument("--normalization", action="append", choices=("default", "none", "speaker", "corpus"),
                        help="with --results: only the runs of this feature normalisation ('default': each "
                        "corpus's recipe default); repeat for several row groups, in that order; without it, "
                        "every run, each row naming its normalisation")
    args, passthrough = parser.parse_known_args(argv)
    if args.results is not None:
        return _table_from_results(parser, args, passthrough)
    if not args.encoder_source:
        parser.error("--encoder_source is required (or --results RUNS_DIR to tabulate finished runs)")
    protocols = args.protocol or ["speaker_independent"]
    if "emobox" in protocols and not args.emobox_folds:
        parser.error("--protocol emobox needs --emobox_folds DIR (EmoBox's data/ folder)")
    references = read_reference_csv(args.reference_csv) if args.reference_csv else []

    known = available_datasets()
    datasets = [name.strip().lower() for name in (args.datasets or "emodb,urdu").split(",") if name.strip()]
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
        for protocol in protocols:
            extra = ["--protocol", protocol] + (["--task", args.task] if args.task != "categorical" else [])
            if protocol == "emobox":
                extra += ["--emobox_folds", args.emobox_folds]
            row = {"encoder_source": source, "protocol": protocol, "datasets": {}}
            reference = {"encoder_source": source, "protocol": protocol, "datasets": {}}
            for name in datasets:
                results = run_dataset(
                    known[name],
                    ["hparams/probe.yaml", "--data_folder", folders[name],
                     "--encoder_source", source, *extra, *passthrough],
                )
                row["probe"] = results.get("probe_head", "probe") + normalization_note(results)
                row["datasets"][name] = _cell(results, results["metrics"])
                if "reference" in results:
                    reference["probe"] = results["reference"]["name"]
                    reference["datasets"][name] = _cell(results, results["reference"]["metrics"])
            for done in (row, reference):
                if len(done["datasets"]) == len(datasets):
                    done["average"] = {
                        metric: sum(done["datasets"][n]["mean"][metric] for n in datasets) / len(datasets)
                        for metric in TASK_METRICS[args.task][:2]
                        if all(metric in done["datasets"][n]["mean"] for n in datasets)
                    }
                    rows.append(done)
    refs = reference_rows(references, datasets)
    notes = ""
    if any(not r["datasets"][n]["speaker_independent"] for r in rows for n in datasets):
        notes += (f"\n{NOT_INDEPENDENT} not speaker-independent: test speakers also appear in "
                  "training (the counts per fold are in that run's results.md).\n")
    for ref in refs:
        notes += f"\nReference `{ref['encoder']}` ({ref['protocol']}): {'; '.join(ref['sources'])}\n"

    summary = (
        "Weighted F1 and UA (%), mean ± std over test folds (each fold averaged over seeds); "
        "the averages are over datasets. Probe `mlp`, `linear`, `linear_concat`, `authors`: the "
        "recipes' `probe_head`; logistic regression: the reference on the same features and folds.\n\n"
    ) if args.task == "categorical" else (
        "Dimensional task: concordance correlation coefficient (CCC), mean over attributes "
        "± std over test folds, and per attribute (each fold averaged over seeds); the average "
        "is over datasets. Probe `mlp`, `linear`, `linear_concat`, `authors`: the recipes' "
        "`probe_head`; ridge regression: the reference on the same features and folds.\n\n"
    )
    text = (
        "# Emotion probing across datasets\n\n"
        + summary
        + table(rows, datasets, references, task=args.task)
        + notes
        + "\nCommand: `python recipes/benchmark.py "
        + " ".join(f"--encoder_source {s}" for s in args.encoder_source)
        + "".join(f" --protocol {p}" for p in args.protocol or [])
        + (f" --task {args.task}" if args.task != "categorical" else "")
        + (f" --emobox_folds {args.emobox_folds}" if args.emobox_folds else "")
        + (f" --reference_csv {args.reference_csv}" if args.reference_csv else "")
        + f" --datasets {','.join(datasets)} --data_folder {args.data_folder}"
        + (" " + " ".join(passthrough) if passthrough else "")
        + "`\n"
    )
    write_text(os.path.join(args.output_folder, "benchmark.md"), text)
    write_json(os.path.join(args.output_folder, "benchmark.json"), {"rows": rows, "references": refs})
    if args.plot:
        plot_benchmark(rows, datasets, TASK_METRICS[args.task][0], args.plot)
    print(text)
    return rows


def _table_from_results(parser, args, passthrough):
    """``--results``: the table of finished runs, printed (``--markdown``) or
    written to ``<output_folder>/benchmark.md``; returns its text."""
    if passthrough:
        parser.error(f"--results runs nothing; unused arguments {passthrough}")
    labels = []
    for item in args.label:
        name, sep, text = item.partition("=")
        if not sep or not name or not text:
            parser.error(f"--label {item!r}: expected NAME=TEXT")
        labels.append((name, text))
    try:
        columns = None if args.datasets is None else [n.strip() for n in args.datasets.split(",") if n.strip()]
        text = results_table(args.results, labels, columns, reference=args.with_reference,
                             normalizations=args.normalization)
        if args.plot:
            plot_results(args.results, labels, columns, args.plot, args.normalization)
    except ValueError as error:
        parser.error(str(error))
    if not args.markdown:
        write_text(os.path.join(args.output_folder, "benchmark.md"),
                   "# Emotion probing across datasets\n\n" + text)
    print(text, end="")
    return text


if __name__ == "__main__":
    with user_errors():  # a user's mistake: one line, no traceback
        main()
