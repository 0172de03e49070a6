"""One emotion-probing experiment, shared by every dataset recipe: prepare
the manifest, extract (or reuse) the encoder's per-layer pooled features,
train and select a probe per test fold and seed, score each test fold once,
write ``results.json``, ``results.md`` and ``confusion.png``, and export a
classifier folder.

A recipe's ``train.py`` is::

    from care.probing import run_recipe
    from emodb_prepare import prepare_emodb

    if __name__ == "__main__":
        run_recipe(prepare_emodb, sys.argv[1:], recipe_dir=os.path.dirname(__file__))

Per test fold and seed: the probe trains on the training folds and the epoch
of best validation weighted F1 is selected; with ``refit`` (the default
heads), a fresh probe then trains on training + validation for that many
epochs and is the one tested; without it (``probe_head: authors``), the
selected epoch's probe is tested. The head and its training settings are
picked in the YAML by ``probe_head`` (``head``: ``probe``, ``opt_class``,
``epoch_counter``, ``refit``, ``balance_classes``); a YAML without ``head``
gives them at its top level. A logistic-regression reference (``care.probing.reference``) is
scored on the same features and folds.

With ``task: dimensional`` the same features, splits and head regress
numeric attributes (arousal, valence, dominance) instead: see
``care.probing.dimensional``.

Exported classifier (``care.inference.save_classifier``): a probe trained on
*all* utterances of the corpus (every fold) for the median of the epochs
selected on the validation folds, with feature statistics of all utterances
(with ``members`` > 1, that many probes, each with its own seed, as a
``ProbeEnsemble``); no test fold chooses it, and it is the best estimate of a
model for new speakers. Its cross-validated scores are the ones in
``results.json``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import dataclasses
import hashlib
import inspect
import json
import os
import platform
import sys
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.logger import get_logger

from care.checkpoints import AtomicCheckpointer, RandomState
from care.io import write_json, write_text
from care.inference import save_classifier
from care.lobes.probe import LAYER_WEIGHTS_CAPTION, AuthorsProbe, ProbeEnsemble
from care.probing.brain import ProbeBrain, feature_dataset
from care.probing.cache import cache_info, cached_features
from care.probing.extractors import authors_layout, build_extractor, resolve_layers
from care.probing.figures import write_layer_weights
from care.probing.metrics import (
    METRIC_NAMES,
    METRICS,
    classification_metrics,
    confusion_matrix,
    metrics_from_confusion,
    plot_confusion,
    summarize,
)
from care.processing.folds import protocol_splits
from care.processing.manifest import MANIFEST_FILE, PREPARE_FILE, load_manifest
from care.recipe import InputError, load_recipe, user_errors

logger = get_logger(__name__)

# Keys every probe.yaml defines (tests/test_hparams.py checks the recipes and
# the template); read as hparams[key], never with a default in code. Besides
# these: ``head`` (picked by ``probe_head``) or, in a YAML without one, the
# head's keys at the top level (see :func:`probe_settings`); the ``emobox_*``
# keys with ``protocol: emobox``; ``authors_clip_rule`` with
# ``extract_clips: authors``.
PROBE_KEYS = (
    "seed", "dataset", "data_folder", "encoder_source", "encoder_name", "hf_cache", "layers",
    "pooling", "protocol", "check_speakers", "output_folder", "save_folder", "prepare_folder",
    "feature_folder", "prepare_options", "num_valid_folds", "test_folds",
    "extract_batch_size", "extract_clips", "seeds", "batch_size", "noprogressbar",
    "probe_num_threads", "compute_cost", "train_logger", "reference", "export_classifier", "task",
)  # fmt: skip

# Former names of prepare options (one name per meaning since then): an old
# YAML or --prepare_options gets what to write instead.
RENAMED_PREPARE_OPTIONS = {
    "expected_utterances": "strict: True checks the official release's counts, False accepts a subset",
    "max_unreadable": "max_bad_files (missing or unreadable audio files skipped)",
    "max_missing": "max_bad_files (missing or unreadable audio files skipped)",
    "skip_bad_files": "max_bad_files (missing or unreadable audio files skipped; null: any number)",
}


@dataclasses.dataclass
class ProbeTask:
    """What every probe trained in one experiment shares: the hparams, run
    options, cached features ``{utt_id: [layers, dim]}``, the manifest, the
    label encoder, the probe's sizes (``dims``) and the head's settings
    (:func:`probe_settings`)."""

    hparams: dict
    run_opts: object
    features: dict
    data: dict
    label_encoder: CategoricalEncoder
    dims: dict
    head: dict


def run_recipe(prepare_fn, argv, recipe_dir=None):
    """Runs a probing recipe from command-line arguments.

    Arguments
    ---------
    prepare_fn : callable
        ``prepare_fn(data_folder=..., save_folder=..., **hparams["prepare_options"])``
        writes ``data.json`` (see ``care.processing.manifest``).
    argv : list of str
        ``[hparams_file, --key value, ...]``; the hparams file may be given
        relative to the current folder or to ``recipe_dir``.
    recipe_dir : str, optional
        The recipe folder.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    with user_errors():  # a user's mistake: one line, no traceback
        hparams_file, run_opts, overrides, hparams = load_recipe(recipe_dir or os.getcwd(), list(argv))
        sb.create_experiment_directory(
            experiment_directory=hparams["output_folder"],
            hyperparams_to_save=hparams_file,
            overrides=overrides,
        )
        prepare_corpus(prepare_fn, hparams)
        return run_probing(hparams, run_opts)


def prepare_corpus(prepare_fn, hparams):
    """Runs a recipe's prepare function (on the main process) with the
    hparams' ``data_folder``, ``prepare_folder`` and ``prepare_options``.

    Raises
    ------
    InputError
        ``prepare_options`` uses a former option name
        (:data:`RENAMED_PREPARE_OPTIONS`) or one the function does not take.
    """
    options = dict(hparams["prepare_options"] or {})
    renamed = [f"{old} is now {new}" for old, new in RENAMED_PREPARE_OPTIONS.items() if old in options]
    if renamed:
        raise InputError(f"prepare_options of {hparams['dataset']}: " + "; ".join(renamed))
    parameters = inspect.signature(prepare_fn).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            raise InputError(
                f"prepare_options of {hparams['dataset']}: unknown option(s) {unknown}; "
                f"{prepare_fn.__name__} takes {sorted(set(parameters) - {'data_folder', 'save_folder'})}")
    run_on_main(
        prepare_fn,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["prepare_folder"],
            **options,
        },
    )


def run_probing(hparams, run_opts=None):
    """Cross-validated probing of one encoder on one prepared corpus.

    Arguments
    ---------
    hparams : dict
        A loaded ``probe.yaml`` (see ``recipes/EmoDB/emotion/hparams/probe.yaml``).
    run_opts : RunOptions or dict, optional
        SpeechBrain run options (``--device`` etc.).

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    device = _device(run_opts)
    output_folder = hparams["output_folder"]
    data = load_manifest(os.path.join(hparams["prepare_folder"], MANIFEST_FILE))
    with open(os.path.join(hparams["prepare_folder"], PREPARE_FILE), encoding="utf-8") as handle:
        protocol = json.load(handle).get("protocol", "")
    # Fold files are read (and any unmatched id reported) before extraction.
    splits, protocol_info = protocol_splits(hparams, data, protocol)

    extractor = build_extractor(hparams["encoder_source"], hparams["hf_cache"], hparams["pooling"])
    clips = hparams["extract_clips"]
    if clips not in ("whole", "authors"):
        raise ValueError(f"extract_clips: {clips!r}; expected whole or authors")
    clip_rule = hparams["authors_clip_rule"] if clips == "authors" else None
    cache_path = feature_cache_path(hparams, clip_rule)
    ids, features = cached_features(
        extractor,
        data,
        hparams["data_folder"],
        cache_path,
        batch_size=hparams["extract_batch_size"],
        device=device,
        clip_rule=clip_rule,
    )
    features = dict(zip(ids, features))
    layers = resolve_layers(hparams["layers"], extractor)
    head = probe_settings(hparams)
    if hparams["task"] != "categorical":  # regression (arousal, valence, ...)
        from care.probing.dimensional import run_dimensional

        return run_dimensional(hparams, run_opts, extractor, features, data, splits, protocol_info,
                               layers, head, cache_path, _machine(device), clip_rule)

    labels = sorted({entry["label"] for entry in data.values()})
    label_encoder = CategoricalEncoder()
    label_encoder.update_from_iterable(labels)
    label_encoder.expect_len(len(labels))
    dims = {
        "num_layers": extractor.num_layers,
        "input_dim": extractor.dim,
        "num_classes": len(labels),
        "layers": layers,
    }
    if _is_authors(head) and head["members"] != 1:
        raise ValueError(f"probe_head authors trains one probe (the authors' code); got members: {head['members']}")
    if _is_authors(head):  # its own layout of the layers (see AuthorsProbe)
        if layers is not None:
            raise ValueError(f"probe_head authors weights its own layers; got layers: {hparams['layers']}")
        dims.update(authors_layout(extractor))
    reference = None
    if hparams["reference"] is not None:
        reference = summarize(hparams["reference"](features, data, splits, labels,
                                                   layers=layers))
    runs = []
    threads = torch.get_num_threads()
    # A probe is a tiny MLP: on CPU, more threads only add synchronisation.
    torch.set_num_threads(hparams["probe_num_threads"] or threads)
    signature = _run_signature(hparams, cache_path, layers, protocol_info)
    task = ProbeTask(hparams, run_opts, features, data, label_encoder, dims, head)
    for seed in hparams["seeds"]:
        for fold, train, valid, test in splits:
            fold_dir = fold if str(fold).startswith("fold") else f"fold_{fold}"  # no "fold_fold_1"
            folder = os.path.join(hparams["save_folder"], signature, fold_dir, f"seed_{seed}")
            runs.append(_train_fold(task, (train, valid, test), seed, fold, folder))
            logger.info(
                f"seed {seed} fold {fold}: epoch {runs[-1]['best_epoch']}, test "
                + ", ".join(f"{m} {runs[-1]['test'][m]:.4f}" for m in METRICS)
            )
    torch.set_num_threads(threads)

    results = _results(hparams, protocol_info, data, labels, runs)
    results["probe_head"] = hparams.get("probe_head", "probe")
    if clip_rule:
        results["authors_clip_rule"] = dict(clip_rule)
    if reference is not None:
        results["reference"] = {
            "name": _reference_name(hparams["reference"]),
            "metrics": reference,
        }
    results["timing_seconds"] = {  # when first computed (caches and finished runs are reused)
        "feature_extraction": cache_info(cache_path).get("extraction_seconds"),
        "probe_training_all_runs": round(sum(r.get("seconds", float("nan")) for r in runs), 1),
    }
    results["machine"] = _machine(device)
    if hparams["export_classifier"]:
        results["classifier"] = _export(task, extractor, labels, runs, results)
    confusion = np.asarray(results["confusion_matrix"]["counts"])
    plot_confusion(
        confusion,
        labels,
        os.path.join(output_folder, "confusion.png"),
        title=f"{hparams['dataset']} / {hparams['encoder_name']} (all folds and seeds)",
    )
    write_json(os.path.join(output_folder, "results.json"), results)
    write_text(os.path.join(output_folder, "results.md"), results_markdown(results))
    write_layer_weights(output_folder, runs, extractor, dims,
                        f"{hparams['dataset']} / {hparams['encoder_name']}: {results['probe_head']}")
    logger.info(
        f"{hparams['dataset']} / {hparams['encoder_name']}: weighted F1 "
        f"{results['metrics']['mean']['weighted_f1']:.4f}, UA {results['metrics']['mean']['ua']:.4f}"
        f" -> {os.path.join(output_folder, 'results.md')}"
    )
    return results


def feature_cache_path(hparams, clip_rule=None):
    """The feature cache of a run: ``<feature_folder>/<encoder_name>.pt``,
    with ``-<pooling>`` for a pooling other than ``mean`` and
    ``-authors_clips`` under the authors' clip rule (each its own file, so
    one never overwrites another)."""
    name = hparams["encoder_name"]
    if hparams["pooling"] != "mean":
        name += f"-{hparams['pooling']}"
    if clip_rule:
        name += "-authors_clips"
    return os.path.join(hparams["feature_folder"], name + ".pt")


def probe_settings(hparams):
    """The chosen head's ``probe``, ``opt_class``, ``epoch_counter``,
    ``refit``, ``balance_classes`` and ``members`` (probes trained
    independently and averaged; 1: one probe): ``hparams["head"]`` (picked by
    ``probe_head``), or the top level of a YAML without one."""
    head = hparams.get("head") or hparams
    return {
        "probe": head["probe"],
        "opt_class": head["opt_class"],
        "epoch_counter": head["epoch_counter"],
        "refit": bool(head.get("refit", False)),
        "balance_classes": bool(head.get("balance_classes", False)),
        "members": int(head.get("members", 1)),
    }


def _is_authors(head):
    func = getattr(head["probe"], "func", head["probe"])
    return isinstance(func, type) and issubclass(func, AuthorsProbe)


def _train_fold(task, sets, seed, fold, folder):
    """Trains, selects and tests one probe of ``task`` (a :class:`ProbeTask`)
    on ``sets`` (train, valid, test ids), or with the head's ``members`` > 1
    an ensemble of probes trained independently; its result is saved in
    ``folder`` (``result.json``), so that a finished run is not repeated.

    The epoch of best validation weighted F1 is kept (checkpoints in
    ``folder``); with ``refit``, a fresh probe (same seed) then trains on
    training + validation for that many epochs (checkpoint in
    ``folder/refit``) and is the one tested. Ensemble members do the same in
    ``folder/member_<k>`` with seeds ``1000 * seed + k``; their class
    probabilities are averaged. The test set is read once per member, after
    its training."""
    result_path = os.path.join(folder, "result.json")
    if os.path.isfile(result_path):
        with open(result_path, encoding="utf-8") as handle:
            return json.load(handle)
    train, valid, test = sets
    head = task.head
    started = time.time()
    test_set = feature_dataset(sorted(test), task.features, task.data, task.label_encoder)
    members = head["members"]
    fitted = [
        _train_member(task, train, valid, test_set, *((seed, folder) if members == 1 else
                      (1000 * seed + k, os.path.join(folder, f"member_{k}"))))
        for k in range(members)
    ]
    if members == 1:
        probe, brain, selected, best_f1 = fitted[0]
        stats, outputs = brain.stage_stats, brain.stage_outputs
        layer_weights = probe.layer_weights().detach().cpu().tolist()
    else:
        outputs = dict(fitted[0][1].stage_outputs)
        probabilities = torch.stack([torch.cat(b.probabilities) for _, b, _, _ in fitted]).mean(dim=0)
        outputs["predictions"] = probabilities.argmax(dim=-1).tolist()
        stats = classification_metrics(outputs["targets"], outputs["predictions"],
                                       task.dims["num_classes"])
        selected = int(np.median([epoch for _, _, epoch, _ in fitted]))
        best_f1 = float(np.mean([f1 for _, _, _, f1 in fitted]))
        layer_weights = np.mean([p.layer_weights().detach().cpu().tolist()
                                 for p, _, _, _ in fitted], axis=0).tolist()
    result = {
        "seed": seed,
        "fold": fold,
        "best_epoch": selected,
        "valid_weighted_f1": best_f1,
        "refit": head["refit"],
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "test": {m: stats[m] for m in METRICS},
        "layer_weights": layer_weights,
        "outputs": outputs,
        "seconds": round(time.time() - started, 2),
    }
    if members > 1:
        result["members"] = {"count": members, "best_epochs": [e for _, _, e, _ in fitted],
                             "valid_weighted_f1": [f for _, _, _, f in fitted]}
    write_json(result_path, result)
    return result


def _train_member(task, train, valid, test_set, seed, folder):
    """One probe: trained on ``train``, its epoch selected on ``valid``,
    refit when the head says so, then tested. Returns the probe, its Brain
    (``stage_stats``, ``stage_outputs``, ``probabilities`` of the test set),
    the selected epoch and its validation weighted F1."""
    head = task.head
    probe, brain = _fit(task, seed, sorted(train), sorted(valid), head["epoch_counter"](), folder)
    best = brain.checkpointer.find_checkpoint(max_key="weighted_f1")
    selected = int(best.meta["epoch"])
    if head["refit"]:
        everything = sorted(train) + sorted(valid)
        probe, brain = _fit(task, seed, everything, None, head["epoch_counter"](limit=selected),
                            os.path.join(folder, "refit"))
        if brain.checkpointer.find_checkpoint() is None:  # else: resumed, already trained
            brain.checkpointer.save_checkpoint(meta={"epoch": selected, "refit": True})
    brain.evaluate(
        test_set,
        max_key=None if head["refit"] else "weighted_f1",
        test_loader_kwargs={"batch_size": task.hparams["batch_size"]},
    )
    return probe, brain, selected, float(best.meta["weighted_f1"])


def _fit(task, seed, train, valid, counter, folder):
    """A fresh probe of ``task`` (``seed``), standardised on ``train`` and trained on it
    for ``counter``'s epochs; with ``valid``, the best validation epoch is
    checkpointed in ``folder``, and an interrupted run resumes there (no
    checkpoints when ``folder`` is None).
    Returns the probe and its Brain."""
    hparams, features, data, label_encoder = task.hparams, task.features, task.data, task.label_encoder
    dims, head = task.dims, task.head
    sb.utils.seed_everything(seed)
    probe = head["probe"](**dims)
    probe.set_normalisation(torch.stack([features[u] for u in train]))
    brain_hparams = {
        "compute_cost": hparams["compute_cost"],
        "noprogressbar": hparams["noprogressbar"],
    }
    if head["balance_classes"]:  # inverse class frequency of this training set
        counts = torch.bincount(
            torch.tensor([label_encoder.encode_label(data[u]["label"]) for u in train]),
            minlength=dims["num_classes"]).float()
        brain_hparams["class_weight"] = counts.sum() / (len(counts) * counts.clamp(min=1))
    brain = fit_brain(
        ProbeBrain, probe, head, hparams, brain_hparams, task.run_opts, counter, folder,
        feature_dataset(train, features, data, label_encoder),
        None if valid is None else feature_dataset(valid, features, data, label_encoder),
    )
    return probe, brain


def fit_brain(brain_class, probe, head, hparams, brain_hparams, run_opts, counter, folder,
              train_set, valid_set=None):
    """Trains ``probe`` in a ``brain_class`` (the categorical or dimensional
    Brain) for ``counter``'s epochs and returns the Brain. With ``folder``,
    checkpoints go there: atomic (a kill mid-save leaves nothing that is
    loaded) and with the RNG state, so that a resumed fold trains exactly as
    an uninterrupted one; with ``valid_set``, the Brain keeps the best
    validation epoch and logs to ``folder/train_log.txt``."""
    checkpointer = None
    if folder is not None:
        checkpointer = AtomicCheckpointer(
            folder, recoverables={"probe": probe, "counter": counter, "random_state": RandomState()}
        )
    if valid_set is not None:
        brain_hparams = {**brain_hparams,
                         "train_logger": hparams["train_logger"](save_file=os.path.join(folder, "train_log.txt"))}
    brain = brain_class(
        modules={"probe": probe},
        opt_class=head["opt_class"],
        hparams=brain_hparams,
        run_opts=run_opts,
        checkpointer=checkpointer,
    )
    loader = {"batch_size": hparams["batch_size"]}
    brain.fit(counter, train_set, valid_set,
              train_loader_kwargs={**loader, "shuffle": True}, valid_loader_kwargs=loader)
    return brain


def _export(task, extractor, labels, runs, results):
    """Trains the exported probe on every utterance (see the module docstring)."""
    hparams = task.hparams
    epochs = max(1, int(np.median([r["best_epoch"] for r in runs])))
    seed = hparams["seeds"][0]
    everything = sorted(task.data)
    seeds = [seed] if task.head["members"] == 1 else [1000 * seed + k for k in range(task.head["members"])]
    probes = [_fit(task, member_seed, everything, None, task.head["epoch_counter"](limit=epochs), None)[0]
              for member_seed in seeds]
    probe = probes[0] if len(probes) == 1 else ProbeEnsemble.from_members(probes)
    folder = os.path.join(hparams["output_folder"], "classifier")
    layers = task.dims.get("layers")
    info = {
        "dataset": hparams["dataset"],
        "encoder_source": str(hparams["encoder_source"]),
        "probe_head": hparams.get("probe_head", "probe"),
        "layers": "all" if layers is None else layers,
        "trained_on": f"all {len(everything)} utterances, {epochs} epochs (median selected epoch), "
        + (f"seed {seed}" if len(seeds) == 1 else f"{len(seeds)} members, seeds {seeds}"),
        "cross_validated_weighted_f1": round(results["metrics"]["mean"]["weighted_f1"], 4),
        "cross_validated_ua": round(results["metrics"]["mean"]["ua"], 4),
    }
    save_classifier(folder, extractor, probe.cpu().eval(), labels, info=info)
    logger.info(f"Exported the classifier to {folder}")
    return {"folder": folder, "epochs": epochs, "seed": seed}


def results_header(hparams, protocol_info, data):
    """What every results.json (categorical or dimensional) opens with: the
    dataset, encoder, layers, protocol and number of utterances."""
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


def _results(hparams, protocol_info, data, labels, runs):
    summary = summarize(runs)
    total = np.zeros((len(labels), len(labels)), dtype=np.int64)
    pooled = []
    for seed in hparams["seeds"]:
        seed_runs = [r for r in runs if r["seed"] == seed]
        matrix = sum(
            confusion_matrix(r["outputs"]["targets"], r["outputs"]["predictions"], len(labels))
            for r in seed_runs
        )
        pooled.append(metrics_from_confusion(matrix))
        total += matrix
    layer_weights = np.mean([r["layer_weights"] for r in runs], axis=0)
    return {
        **results_header(hparams, protocol_info, data),
        "labels": labels,
        "seeds": list(hparams["seeds"]),
        "folds": list(summary["per_fold"]),
        "metrics": summary,
        "pooled_over_folds": {m: float(np.mean([p[m] for p in pooled])) for m in METRICS},
        "confusion_matrix": {"labels": labels, "counts": total.tolist()},
        "mean_layer_weights": [round(float(w), 4) for w in layer_weights],
        "runs": [{k: v for k, v in r.items() if k != "outputs"} for r in runs],
    }


def results_markdown(results):
    """``results.md``: summary and per-fold table of a probing run."""
    summary = results["metrics"]
    lines = [
        f"# {results['dataset']}: emotion probe on `{results['encoder_source']}`",
        "",
        f"- Protocol: {results['protocol']}",
        f"- Speaker-independent: "
        + ("yes" if results.get("speaker_independent", True) else "**no** (test speakers also in training)"),
        f"- {results['utterances']} utterances, labels {', '.join(results['labels'])}; "
        f"layers: {results['layers']}; pooling: {results.get('pooling', 'mean')}; "
        f"probe head: {results.get('probe_head', 'probe')}; "
        f"seeds {results['seeds']}; {len(results['folds'])} test folds",
        f"- Machine: {results.get('machine', {}).get('description', '?')}; time: "
        + (", ".join(
            f"{name.replace('_', ' ')} {seconds:.1f} s"
            for name, seconds in results.get("timing_seconds", {}).items()
        ) or "?"),
        "",
        "| metric | mean over folds | std over folds | std over seeds | pooled predictions |",
        "|---|---|---|---|---|",
    ]
    for m in METRICS:
        lines.append(
            f"| {METRIC_NAMES[m]} | {100 * summary['mean'][m]:.2f} | "
            f"{100 * summary['std_folds'][m]:.2f} | {100 * summary['std_seeds'][m]:.2f} | "
            f"{100 * results['pooled_over_folds'][m]:.2f} |"
        )
    if "reference" in results:
        reference = results["reference"]["metrics"]
        lines += ["", f"Reference on the same features and test folds, {results['reference']['name']}"
                  " (trained on all non-test folds; deterministic):", "",
                  "| metric | mean over folds | std over folds |", "|---|---|---|"]
        lines += [f"| {METRIC_NAMES[m]} | {100 * reference['mean'][m]:.2f} | "
                  f"{100 * reference['std_folds'][m]:.2f} |" for m in METRICS]
    lines += ["", "Per test fold (mean over seeds, %):", "",
              "| fold | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " |",
              "|---" * (len(METRICS) + 1) + "|"]
    for fold, values in summary["per_fold"].items():
        lines.append(f"| {fold} | " + " | ".join(f"{100 * values[m]:.2f}" for m in METRICS) + " |")
    lines += ["", f"{LAYER_WEIGHTS_CAPTION}: {results['mean_layer_weights']}", "",
              "Confusion matrix (all folds and seeds): confusion.png"]
    if "classifier" in results:
        lines.append(f"Exported classifier: {results['classifier']['folder']}")
    return "\n".join(lines) + "\n"


def _run_signature(hparams, cache_path, layers, protocol_info=None):
    head = probe_settings(hparams)
    """Checkpoints live under a hash of everything that shapes a probe run,
    so a changed option never resumes from another configuration (the
    default protocol's hash is the one it had before protocols existed)."""
    parts = {
        "features": cache_path,
        "encoder_source": str(hparams["encoder_source"]),
        "layers": layers,
        "probe": _describe(head["probe"]),
        "opt": _describe(head["opt_class"]),
        "epochs": _describe(head["epoch_counter"]),
        "batch_size": hparams["batch_size"],
        "num_valid_folds": hparams["num_valid_folds"],
    }
    for option in ("refit", "balance_classes"):
        if head[option]:
            parts[option] = True
    if head["members"] != 1:
        parts["members"] = head["members"]
    if protocol_info and protocol_info["name"] != "speaker_independent":
        parts["protocol"] = [protocol_info["name"], protocol_info.get("files"),
                             hparams["emobox_valid_fraction"], hparams["seed"]]
    return "run-" + hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _describe(obj):
    func = getattr(obj, "func", obj)
    return [getattr(func, "__qualname__", str(func)), getattr(obj, "keywords", {})]


def _device(run_opts):
    device = getattr(run_opts, "device", None) if run_opts is not None else None
    if isinstance(run_opts, dict):
        device = run_opts.get("device")
    return device or ("cuda:0" if torch.cuda.is_available() else "cpu")


def _reference_name(reference):
    keywords = getattr(reference, "keywords", {})
    func = getattr(reference, "func", reference)
    options = ", ".join(f"{k}={v}" for k, v in sorted(keywords.items()))
    return func.__name__.replace("_", " ") + (f" ({options})" if options else "")


def _machine(device):
    cpus = os.cpu_count()
    name = platform.processor() or platform.machine()
    text = f"{cpus} CPU cores ({name}), device {device}"
    if str(device).startswith("cuda"):
        text += f" ({torch.cuda.get_device_name(torch.device(device))})"
    return {"description": text, "python": sys.version.split()[0], "torch": torch.__version__}
