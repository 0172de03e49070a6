#!/usr/bin/env python3
"""Cross-corpus emotion probing: train the probe on one or more corpora, test
it on another, over the emotions they share.

    python recipes/cross_corpus.py --train emodb --test urdu \
        --encoder_source egemaps --encoder_source random:care_small --data_folder ../shared/data

- Corpora are named as in ``recipes/benchmark.py`` (the lower-cased folder of
  a recipe ``recipes/<Dataset>/emotion/``); each is prepared by its own
  recipe (``<data_folder>/<name>``, or ``--dataset_folder name=PATH``), and
  its features come from (and go to) that recipe's feature cache, so a
  corpus already probed in-corpus is not encoded again.
- Labels: each corpus's labels are mapped to shared names (built in:
  angry -> anger, happy -> happiness, sad -> sadness, and the like; a
  ``--label_map`` JSON file ``{"<corpus or *>": {"<label>": "<shared label>"}}``
  adds or overrides entries), then only ``--labels`` (default: anger,
  happiness, neutral, sadness, EmoBox's cross-corpus set; ``shared``: every
  label all corpora have) that **every** corpus has are kept. Fewer than two
  shared labels is an error naming each corpus's labels. Corpora whose
  labels are not emotion categories (:data:`NOT_CATEGORIES`: BAVED's levels
  of expressed emotion) are refused.
- Protocol: the test corpus is only tested (all its utterances with a shared
  label); the training corpora's speakers are split, per corpus, into
  ``--valid_groups`` speaker groups balanced in size and label mix
  (:func:`care.processing.folds.group_speakers`), and the group whose
  label mix is closest to its corpus's validates (picks the epoch count);
  the rest trains. No speaker is in two of train, valid and test.
- The probe, its options and the logistic-regression reference are those of
  the first training corpus's ``hparams/probe.yaml`` (any further
  ``--key value`` is passed to it, e.g. ``--seeds [1,2,3]``); the run is a
  normal probing run on a combined manifest (``care.probing.run``), with its
  ``results.json`` and ``results.md``. No classifier is exported.
- ``--feature_normalization corpus`` (the default here; ``speaker`` or
  ``none`` instead, ``care.processing.normalization``) z-scores each corpus
  (or speaker) by its own statistics, computed over all of that corpus's
  utterances (every label, none read), the test corpus's included. Why
  ``corpus``: in the normalisation study it raised the transfer over
  ``none`` on most of the 12 pairs of EmoDB, URDU, nEMO and ASED for every
  encoder (8, 10 and 11 of 12; docs/experiments/2026-12-07_normalisation),
  and it applies to every pair. ``speaker`` gained more on the six pairs
  without URDU, and is refused where a corpus's speakers mostly speak one
  label (URDU): choose it where both corpora allow it. Runs made before
  2026-12-07 used ``none``.
- Output: ``<output_folder>/<train>-to-<test>/<encoder>[-<mode>_norm]/`` per
  run and the table ``<output_folder>/<train>-to-<test>/cross_corpus[-<mode>_norm].md``
  (and ``.json``).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

RECIPES = Path(__file__).resolve().parent
sys.path.insert(0, str(RECIPES.parent))

import speechbrain as sb  # noqa: E402
import torch  # noqa: E402

from care.io import save_torch, write_json, write_text  # noqa: E402
from care.probing.cache import cache_info, cache_key, cached_features  # noqa: E402
from care.probing.extractors import build_extractor  # noqa: E402
from care.probing.run import feature_cache_path, prepare_corpus, run_probing  # noqa: E402
from care.processing.folds import group_speakers  # noqa: E402
from care.processing.manifest import (  # noqa: E402
    MANIFEST_FILE,
    ManifestError,
    load_manifest,
    resolve_wav,
)
from care.processing.normalization import NORMALIZATIONS  # noqa: E402
from care.processing.preparation import write_manifest  # noqa: E402
from care.recipe import load_recipe, load_script, user_errors  # noqa: E402

DEFAULT_LABELS = ("anger", "happiness", "neutral", "sadness")
# Names the recipes use for the same emotion (the shared name on the right).
BUILT_IN_MAP = {
    "angry": "anger", "ang": "anger",
    "happy": "happiness", "hap": "happiness", "joy": "happiness",
    "neu": "neutral",
    "sad": "sadness",
    "fearful": "fear", "fea": "fear",
    "disgusted": "disgust", "dis": "disgust",
    "surprised": "surprise", "sur": "surprise",
}  # fmt: skip
# Corpora whose labels are not emotion categories, and why: no label of theirs
# means what a shared emotion means, so they are refused rather than mapped.
NOT_CATEGORIES = {
    "baved": "its labels are levels of expressed emotion (low, neutral, high) of any emotion, "
    "not emotion categories: its 'high' holds anger and happiness alike",
}


def available_datasets():
    """``{name: recipe folder}`` of every ``recipes/<Dataset>/emotion`` recipe."""
    return {
        path.parent.parent.name.lower(): path.parent
        for path in sorted(RECIPES.glob("*/emotion/train.py"))
    }


def read_label_map(path):
    """``{corpus or "*": {label: shared label}}`` from a JSON file; errors
    name the file and the problem."""
    try:
        with open(path, encoding="utf-8") as handle:
            table = json.load(handle)
    except OSError as error:
        raise ManifestError(f"--label_map {path}: cannot read it ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(table, dict) or not all(
        isinstance(m, dict) and all(isinstance(v, str) for v in m.values()) for m in table.values()
    ):
        raise ManifestError(
            f'{path}: expected {{"<corpus or *>": {{"<label>": "<shared label>"}}}}'
        )
    return table


def map_labels(corpus, labels, label_map=None):
    """``{label: shared label}`` for one corpus: the built-in names, then the
    file's ``*`` entries, then the corpus's own entries (later ones win);
    labels not named anywhere keep their name.

    Example
    -------
    >>> map_labels("iemocap", ["angry", "excited"], {"iemocap": {"excited": "happiness"}})
    {'angry': 'anger', 'excited': 'happiness'}
    """
    table = dict(BUILT_IN_MAP)
    table.update((label_map or {}).get("*", {}))
    table.update((label_map or {}).get(corpus, {}))
    return {label: table.get(label, label) for label in labels}


def shared_labels(corpora, wanted=DEFAULT_LABELS):
    """The labels of ``wanted`` (or all, for ``"shared"``) that every corpus
    has; ``corpora`` is ``{name: set of mapped labels}``. Fewer than two is a
    :class:`ManifestError` naming each corpus's labels.

    Example
    -------
    >>> shared_labels({"a": {"anger", "fear", "neutral"}, "b": {"anger", "neutral"}})
    ['anger', 'neutral']
    >>> shared_labels({"a": {"anger", "fear"}, "b": {"anger", "calm"}})
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: the corpora share fewer than two of the labels ['anger', 'happiness', 'neutral', 'sadness']: a: ['anger', 'fear']; b: ['anger', 'calm']; map labels with --label_map
    """
    common = set.intersection(*(set(labels) for labels in corpora.values()))
    keep = sorted(common if wanted == "shared" else common & set(wanted))
    if len(keep) < 2:
        wanted_text = "all labels" if wanted == "shared" else f"the labels {sorted(wanted)}"
        found = "; ".join(f"{name}: {sorted(labels)}" for name, labels in corpora.items())
        raise ManifestError(
            f"the corpora share fewer than two of {wanted_text}: {found}; map labels with --label_map"
        )
    return keep


def validation_speakers(data, num_groups):
    """The speakers of ``data`` that validate: of ``num_groups`` speaker
    groups balanced in size and label mix, the one whose label mix is closest
    (L1 distance of proportions; ties: the first) to the corpus's.

    Example
    -------
    >>> data = {f"u{i}": {"speaker": s, "label": l} for i, (s, l) in
    ...         enumerate(zip("aabbccdd", "xyxyxxyy"))}
    >>> sorted(validation_speakers(data, 2))
    ['a', 'c']
    """
    counts = {}
    for entry in data.values():
        counts.setdefault(entry["speaker"], Counter())[entry["label"]] += 1
    groups = group_speakers({s: dict(c) for s, c in counts.items()}, num_groups)
    total = Counter(entry["label"] for entry in data.values())

    def distance(group):
        mix = Counter()
        for speaker, index in groups.items():
            if index == group:
                mix.update(counts[speaker])
        size = sum(mix.values())
        return sum(abs(mix[lab] / size - total[lab] / len(data)) for lab in total)

    chosen = min(range(num_groups), key=lambda g: (distance(g), g))
    return {speaker for speaker, index in groups.items() if index == chosen}


def combine(corpora, train, test, labels, num_groups):
    """The combined manifest: ``{"<corpus>/<utt>": entry}`` with paths under
    ``{data_root}/<corpus>/``, mapped labels, speakers ``<corpus>/<speaker>``,
    ``fold`` ``train`` / ``valid`` (training corpora) or ``test`` (the test
    corpus), and ``corpus``; plus counts per corpus and split.

    ``corpora`` is ``{name: (manifest with mapped labels, data folder)}``.
    """
    combined, counts = {}, {}
    for name in list(train) + [test]:
        data = {u: e for u, e in corpora[name][0].items() if e["label"] in labels}
        valid = validation_speakers(data, num_groups) if name != test else set()
        for utt, entry in data.items():
            fold = "test" if name == test else "valid" if entry["speaker"] in valid else "train"
            combined[f"{name}/{utt}"] = dict(
                entry,
                wav=entry["wav"].replace("{data_root}", "{data_root}/" + name, 1),
                speaker=f"{name}/{entry['speaker']}",
                fold=fold,
                corpus=name,
            )
            counts.setdefault(name, Counter())[fold] += 1
    return combined, {name: dict(c) for name, c in counts.items()}


def link_corpora(root, folders):
    """``root/<name>`` -> each corpus's data folder (symbolic links), so that
    one ``{data_root}`` reaches every corpus."""
    os.makedirs(root, exist_ok=True)
    for name, folder in folders.items():
        link = os.path.join(root, name)
        target = os.path.abspath(folder)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    return root


def load_corpus(name, recipe_dir, folder, source, passthrough):
    """Prepares one corpus with its recipe; returns its loaded hparams and
    manifest."""
    argv = ["hparams/probe.yaml", "--data_folder", folder, "--encoder_source", source, *passthrough]
    _, run_opts, _, hparams = load_recipe(str(recipe_dir), argv)
    prepare_corpus(prepare_function(recipe_dir), hparams)
    data = load_manifest(os.path.join(hparams["prepare_folder"], MANIFEST_FILE))
    return hparams, run_opts, data


def prepare_function(recipe_dir):
    """The ``prepare_<dataset>`` function a recipe's ``train.py`` imports."""
    module = load_script(recipe_dir / "train.py", f"care_cross_corpus_{recipe_dir.parent.name.lower()}")
    found = [getattr(module, n) for n in dir(module) if n.startswith("prepare_")]
    if len(found) != 1:
        raise ValueError(f"{recipe_dir / 'train.py'}: expected one prepare_* function, found {len(found)}")
    return found[0]


def run_pair(args, known, folders, source, passthrough, label_map):
    """One encoder, training corpora -> test corpus; returns results.json."""
    corpora, recipe_hparams, run_opts = {}, {}, None
    for name in args.train + [args.test]:
        hparams, run_opts, data = load_corpus(name, known[name], folders[name], source, passthrough)
        mapping = map_labels(name, sorted({e["label"] for e in data.values()}), label_map)
        data = {u: dict(e, label=mapping[e["label"]], original_label=e["label"]) for u, e in data.items()}
        corpora[name] = (data, hparams["data_folder"])
        recipe_hparams[name] = hparams
    labels = shared_labels(
        {name: {e["label"] for e in data.values()} for name, (data, _) in corpora.items()},
        "shared" if args.labels == "shared" else [x.strip() for x in args.labels.split(",")],
    )
    combined, counts = combine(corpora, args.train, args.test, labels, args.valid_groups)

    first = recipe_hparams[args.train[0]]
    pair = f"{'+'.join(args.train)}-to-{args.test}"
    base = os.path.join(args.output_folder, pair)
    root = link_corpora(os.path.join(base, "data"), {n: corpora[n][1] for n in corpora})
    prepare_folder = os.path.join(base, "prepared")
    protocol = (
        f"cross-corpus: train {'+'.join(args.train)} (validation: one of {args.valid_groups} "
        f"speaker groups per corpus), test {args.test}; labels {', '.join(labels)}"
    )
    write_manifest(
        prepare_folder, combined, {"labels": labels, "valid_groups": args.valid_groups},
        [resolve_wav(e["wav"], root) for e in combined.values()], root, protocol=protocol,
        facts={"utterances_per_corpus": counts},
    )

    # The combined feature cache, from each corpus's own cache (extracted there when missing).
    extractor = build_extractor(source, first.get("hf_cache"), first["pooling"])
    feature_folder = os.path.join(base, "features")
    features, seconds = {}, 0.0
    pool_features, pool_data = {}, {}  # every utterance of each corpus: normalisation statistics
    for name, (data, folder) in corpora.items():
        hparams = recipe_hparams[name]
        corpus_cache = feature_cache_path(hparams)
        ids, values = cached_features(
            extractor, data, folder, corpus_cache,
            batch_size=hparams["extract_batch_size"], device=_device(run_opts),
        )
        features.update((f"{name}/{u}", v) for u, v in zip(ids, values) if f"{name}/{u}" in combined)
        pool_features.update((f"{name}/{u}", v) for u, v in zip(ids, values))
        pool_data.update((f"{name}/{u}", {"speaker": f"{name}/{data[u]['speaker']}", "corpus": name})
                         for u in ids)
        seconds += cache_info(corpus_cache).get("extraction_seconds") or 0.0
    ids = sorted(combined)
    cache_path = feature_cache_path({**first, "feature_folder": feature_folder})
    save_torch({
        "key": cache_key(extractor, combined, root),
        "ids": ids,
        "features": torch.stack([features[u] for u in ids]),
        "info": {"utterances": len(ids), "from": "the corpora's own caches",
                 "extraction_seconds": round(seconds, 1)},  # theirs, when first extracted
    }, cache_path)

    output_folder = os.path.join(base, first["encoder_name"] + normalization_suffix(first))
    argv = [
        "hparams/probe.yaml", "--data_folder", root, "--encoder_source", source,
        "--dataset", pair, "--output_folder", output_folder,
        "--prepare_folder", prepare_folder, "--feature_folder", feature_folder,
        "--export_classifier", "False", *passthrough,
    ]
    hparams_file, run_opts, overrides, hparams = load_recipe(str(known[args.train[0]]), argv)
    sb.create_experiment_directory(
        experiment_directory=output_folder, hyperparams_to_save=hparams_file, overrides=overrides
    )
    # Speaker or corpus statistics over each corpus's every utterance (all its labels, none read).
    results = run_probing(hparams, run_opts, normalization_pool=(pool_features, pool_data))
    results["cross_corpus"] = {"train": args.train, "test": args.test, "labels": labels,
                               "utterances_per_corpus": counts}
    write_json(os.path.join(output_folder, "results.json"), results)
    return results


def normalization_suffix(hparams):
    """``""`` or ``-<mode>_norm``: the output names of a normalised run."""
    mode = hparams.get("feature_normalization", "none")
    return "" if mode == "none" else f"-{mode}_norm"


def _device(run_opts):
    device = getattr(run_opts, "device", None)
    return device or ("cuda:0" if torch.cuda.is_available() else "cpu")


def table(rows):
    """Markdown: one row per encoder and probe, test weighted F1 and UA (%),
    mean ± std over seeds (one test set)."""
    lines = ["| encoder | probe | normalisation | test wF1 | test UA | seeds |", "|---|---|---|---|---|---|"]
    for row in rows:
        metrics = row["metrics"]
        cells = [f"`{row['encoder_source']}`", row["probe"], row.get("normalization", "none")]
        for metric in ("weighted_f1", "ua"):
            spread = metrics["std_seeds"][metric]
            cells.append(f"{100 * metrics['mean'][metric]:.1f} ± {100 * spread:.1f}")
        cells.append(str(row["seeds"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Parses arguments, runs every encoder, writes the table; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True,
                        help="training corpora, comma-separated (e.g. emodb or emodb,urdu)")
    parser.add_argument("--test", required=True, help="the test corpus")
    parser.add_argument("--encoder_source", action="append", required=True,
                        help="repeat to put several encoders side by side")
    parser.add_argument("--data_folder", default="../shared/data",
                        help="folder holding one folder per corpus, named as the corpus")
    parser.add_argument("--dataset_folder", action="append", default=[],
                        help="NAME=PATH: the data of one corpus elsewhere")
    parser.add_argument("--labels", default=",".join(DEFAULT_LABELS),
                        help="comma-separated shared labels, or 'shared' (all common labels)")
    parser.add_argument("--label_map", default=None,
                        help='JSON {"<corpus or *>": {"<label>": "<shared label>"}}')
    parser.add_argument("--valid_groups", type=int, default=5,
                        help="speaker groups per training corpus; one validates")
    parser.add_argument("--output_folder", default="results/cross_corpus")
    parser.add_argument("--feature_normalization", default="corpus", choices=NORMALIZATIONS,
                        help="each corpus (or speaker) z-scored by its own statistics first (default corpus)")
    args, passthrough = parser.parse_known_args(argv)
    passthrough += ["--feature_normalization", args.feature_normalization]  # one value for every corpus
    args.train = [name.strip().lower() for name in args.train.split(",") if name.strip()]
    args.test = args.test.strip().lower()
    known = available_datasets()
    unknown = [name for name in args.train + [args.test] if name not in known]
    if unknown:
        parser.error(f"unknown corpora {unknown}; recipes exist for {sorted(known)}")
    if args.test in args.train:
        parser.error(f"{args.test} is both a training and the test corpus")
    for name in args.train + [args.test]:
        if name in NOT_CATEGORIES:
            parser.error(f"{name} takes no part in cross-corpus runs: {NOT_CATEGORIES[name]}")
    repeated = sorted({name for name in args.train if args.train.count(name) > 1})
    if repeated:
        parser.error(f"--train names {', '.join(repeated)} more than once (its utterances would count twice)")
    if args.valid_groups < 2:
        parser.error("--valid_groups must be at least 2 (one validates, the others train)")
    folders = {name: os.path.join(args.data_folder, name) for name in args.train + [args.test]}
    for item in args.dataset_folder:
        name, equals, path = item.partition("=")
        name = name.strip().lower()
        if not equals or not path:
            parser.error(f"--dataset_folder {item}: expected NAME=PATH")
        if name in folders:
            folders[name] = path
        elif name in known:  # one list of folders for a loop over pairs
            print(f"cross_corpus.py: --dataset_folder {item}: {name} takes no part in this run, ignored")
        else:
            parser.error(f"--dataset_folder {item}: {name} is not among the corpora of this run "
                         f"({', '.join(folders)}) nor a corpus with a recipe")
    for name in args.train + [args.test]:
        if not os.path.isdir(folders[name]):
            parser.error(f"{name}: data folder {folders[name]} not found (use --dataset_folder)")
    label_map = read_label_map(args.label_map) if args.label_map else None

    rows = []
    for source in args.encoder_source:
        results = run_pair(args, known, folders, source, passthrough, label_map)
        normalization = results.get("feature_normalization", {}).get("mode", "none")
        rows.append({"encoder_source": source, "probe": results.get("probe_head", "probe"),
                     "normalization": normalization,
                     "metrics": results["metrics"], "seeds": results["seeds"],
                     "results": os.path.join(results["output_folder"], "results.md")})
        if "reference" in results:
            rows.append({"encoder_source": source, "probe": results["reference"]["name"],
                         "normalization": normalization,
                         "metrics": results["reference"]["metrics"], "seeds": "deterministic",
                         "results": rows[-1]["results"]})
    pair = f"{'+'.join(args.train)}-to-{args.test}"
    info = results["cross_corpus"]
    text = (
        f"# Cross-corpus: train {' + '.join(args.train)}, test {args.test}\n\n"
        f"Labels: {', '.join(info['labels'])}. Utterances: "
        + "; ".join(f"{n} {c}" for n, c in info["utterances_per_corpus"].items())
        + ".\n\n" + table(rows)
        + "\nCommand: `python recipes/cross_corpus.py --train " + ",".join(args.train)
        + f" --test {args.test} " + " ".join(f"--encoder_source {s}" for s in args.encoder_source)
        + f" --data_folder {args.data_folder}"
        + (f" --output_folder {args.output_folder}" if args.output_folder != "results/cross_corpus" else "")
        + "".join(f" --dataset_folder {d}" for d in args.dataset_folder)
        + (f" --labels {args.labels}" if args.labels != ",".join(DEFAULT_LABELS) else "")
        + (f" --label_map {args.label_map}" if args.label_map else "")
        + (f" --valid_groups {args.valid_groups}" if args.valid_groups != 5 else "")
        + (" " + " ".join(passthrough) if passthrough else "") + "`\n"
    )
    if normalization != "none":
        text = text.replace("\n\nLabels:", f"\n\nFeature normalisation: {results['feature_normalization']['description']}."
                            "\n\nLabels:", 1)
    # One table per normalisation: cross_corpus.md (none), cross_corpus-<mode>_norm.md
    suffix = normalization_suffix({"feature_normalization": normalization})
    write_text(os.path.join(args.output_folder, pair, f"cross_corpus{suffix}.md"), text)
    write_json(os.path.join(args.output_folder, pair, f"cross_corpus{suffix}.json"), {"rows": rows, **info})
    print(text)
    return rows


if __name__ == "__main__":
    with user_errors():  # a user's mistake: one line, no traceback
        main()
