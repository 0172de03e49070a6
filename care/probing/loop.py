"""The one probing loop, shared by every task: per test fold and seed, train
a probe (or an ensemble of ``members``), keep the epoch of best validation
score, refit on training + validation when the head says so, test once;
then aggregate, score the reference, export a classifier and write
``results.json`` and ``results.md``.

What a task changes is all in its task object (:mod:`care.probing.categorical`:
classes; :mod:`care.probing.dimensional`: attribute values):

- ``name``; ``outputs``: the probe's outputs (class labels, attribute names);
- ``metrics``: a run's test metrics, headline first; ``logged``: those logged
  per fold; ``selection``: the validation metric whose best epoch is kept;
- ``objective(train_ids, head)``: the loss and selection score of a probe
  trained on ``train_ids`` (class weights, target scale; see
  :mod:`care.probing.training`); ``target_tensor(ids)``; ``target(utt)``:
  what a fold's identity records of an utterance (its label or values);
  ``test(objective, outputs, ids)``: test metrics and outputs of the
  members' outputs (an ensemble's combination);
- ``ensembles``: whether ``members`` > 1 trains an ensemble;
- ``reference(hparams)``: the deterministic reference scored on the same
  features and folds (or None);
- ``signature(head, protocol_info)``: the checkpoint folder's prefix and what
  its hash covers besides the features, head and batch size;
- ``opening()`` and ``description(data)``: the fields of ``results.json``
  before and after the common header; ``pooled(seed_runs)``: the metrics of a
  seed's test predictions pooled over folds; ``extra_results(runs)``;
- ``classifier_info(summary)``, ``classifier_outputs(objective)``: what the
  exported classifier records; ``headline(summary)``, ``markdown(results)``,
  ``plot(results, folder)``: what is logged and written (every task's run
  also writes ``layer_weights.png``, :mod:`care.probing.figures`).

A third task is one such module, named in :data:`care.probing.run.TASKS`.

Per test fold and seed, with a minibatch head (``solver: adam``): the
probes train on the training folds, all members at once, and each keeps its
epoch of best validation score (in memory); with ``refit`` (the default
heads), fresh probes then train on training + validation for those epochs
and are the ones tested; without it (``probe_head: authors``), the selected
epochs' probes are tested. With a full-batch linear head (``solver:
lbfgs``), ``C`` is chosen by cross-validation over the non-test speaker
groups and the probe fitted to its optimum on all non-test utterances
(:func:`care.probing.training.fit_linear`); it does not depend on the seed,
so it is fitted once per fold and repeated for every seed. The test fold is
read once, after training.

What is saved is each finished (fold, seed), ``result.json`` in
``save/<run>/fold_<f>/seed_<s>/``, with the *identity* of what it depends on:
the utterances of its train, valid and test sets with their labels (or
values) and a digest of their features, the seed and the run's options. A
result whose identity differs (the corpus, its labels, the split or the
features changed) is trained again; an interrupted run resumes at the first
unfinished one and ends as an uninterrupted run would.

The exported classifier (``care.inference.save_classifier``) is a probe
trained on *all* utterances of the corpus for the median of the epochs
selected on the validation folds (with ``members`` > 1, that many probes,
each with its own seed, as a ``ProbeEnsemble``; a full-batch head: the
median of the chosen ``C``); no test fold chooses it. Its cross-validated
scores are the ones in ``results.json``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np
import torch
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.inference import save_classifier
from care.io import write_json, write_text
from care.lobes.probe import AuthorsProbe, ProbeEnsemble
from care.probing.cache import cache_info
from care.probing.extractors import authors_layout
from care.probing.figures import write_layer_weights
from care.probing.metrics import summarize
from care.probing.summary import normalization_results, reference_name, run_results
from care.probing.training import SOLVERS, feature_digests, fit_linear, stack, train_members
from care.recipe import InputError

logger = get_logger(__name__)


@dataclasses.dataclass
class Experiment:
    """What every probe trained in one experiment shares: the hparams, run
    options, cached features ``{utt_id: [layers, dim]}``, the manifest, the
    task (what the probe predicts), the probe's sizes (``dims``) and the
    head's settings (:func:`probe_settings`). ``digests`` (one per
    utterance, :func:`feature_digests`) identify the features a fold used.
    ``normalization``: what ``feature_normalization`` did to the features
    (its report, and the corpus's raw ``mean`` and ``std``; see
    :func:`care.probing.run.normalized_features`)."""

    hparams: dict
    run_opts: object
    features: dict
    data: dict
    task: object
    dims: dict
    head: dict
    digests: dict = None
    normalization: dict = dataclasses.field(default_factory=lambda: {"mode": "none"})
    linear_folds: dict = dataclasses.field(default_factory=dict)  # full-batch fits of this run, by split


def probe_settings(hparams):
    """The chosen head's settings: ``hparams["head"]`` (picked by
    ``probe_head``), or the top level of a YAML without one.

    - ``probe``: the probe class (with its options);
    - ``solver``: ``adam`` (minibatch epochs with ``opt_class``, ``epochs``)
      or ``lbfgs`` (the linear probe fitted full-batch to its optimum, its
      inverse L2 strength chosen among ``C`` by cross-validation over the
      training speaker groups, ``max_iterations`` per value);
    - ``refit``, ``balance_classes`` and ``members`` (probes trained
      together, each its own seed, averaged; 1: one probe).
    """
    head = hparams.get("head") or hparams
    solver = head.get("solver", "adam")
    if solver not in SOLVERS:
        raise InputError(f"solver: {solver!r}; expected one of {', '.join(SOLVERS)}")
    settings = {
        "probe": head["probe"],
        "solver": solver,
        "refit": bool(head.get("refit", False)),
        "balance_classes": bool(head.get("balance_classes", False)),
        "members": int(head.get("members", 1)),
    }
    if solver == "lbfgs":
        values = head["C"] if isinstance(head["C"], (list, tuple)) else [head["C"]]
        try:
            values = [float(c) for c in values]
        except (TypeError, ValueError):
            values = []
        if not values or any(not c > 0 for c in values):
            raise InputError(f"C (linear_C): {head['C']!r}; expected one or more positive numbers")
        settings.update(C=values, max_iterations=int(head.get("max_iterations", 100)),
                        members=1, refit=True)  # one convex fit on all non-test utterances
    else:
        settings.update(opt_class=head["opt_class"], epochs=int(head["epochs"]))
    return settings


def run_experiment(task, hparams, run_opts, extractor, features, data, splits, protocol_info,
                   layers, cache_path, machine, clip_rule=None, normalization=None):
    """Cross-validated probing of ``task`` on cached features: every fold and
    seed (:func:`train_fold`, one progress bar), the reference, the exported
    classifier, and ``results.json`` / ``results.md`` in ``output_folder``.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    head = probe_settings(hparams)
    if head["members"] != 1 and not task.ensembles:
        logger.warning(f"task: {task.name} trains one probe per seed and fold; the head's "
                       f"members: {head['members']} (an ensemble) is not applied")
        head["members"] = 1
    dims = {"num_layers": extractor.num_layers, "input_dim": extractor.dim,
            "num_classes": len(task.outputs), "layers": layers}
    if _is_authors(head):  # its own layout of the layers (see AuthorsProbe)
        if head["members"] != 1:
            raise ValueError(f"probe_head authors trains one probe (the authors' code); got members: {head['members']}")
        if layers is not None:
            raise ValueError(f"probe_head authors weights its own layers; got layers: {hparams['layers']}")
        dims.update(authors_layout(extractor))
    started = time.time()
    reference, reference_fn = None, task.reference(hparams)
    if reference_fn is not None:
        reference = summarize(reference_fn(features, data, splits, task.outputs, layers=layers),
                              metrics=task.metrics)
    reference_seconds = time.time() - started

    normalization = normalization or {"mode": "none"}
    experiment = Experiment(hparams, run_opts, features, data, task, dims, head, feature_digests(features),
                            normalization)
    threads = torch.get_num_threads()
    # A probe is small: on CPU, more threads than its matrices need only add synchronisation.
    torch.set_num_threads(hparams["probe_num_threads"] or threads)
    folder = signature(hparams, task, cache_path, layers, head, protocol_info, normalization)
    units = [(seed, split) for seed in hparams["seeds"] for split in splits]
    runs = []
    started = time.time()
    with tqdm(total=len(units), desc="probes (folds x seeds)", unit="fold", dynamic_ncols=True,
              disable=hparams["noprogressbar"] or _run_option(run_opts, "noprogressbar")) as progress:
        for seed, (fold, train, valid, test) in units:
            fold_dir = fold if str(fold).startswith("fold") else f"fold_{fold}"  # no "fold_fold_1"
            path = os.path.join(hparams["save_folder"], folder, fold_dir, f"seed_{seed}")
            runs.append(train_fold(experiment, (train, valid, test), seed, fold, path))
            scores = ", ".join(f"{m} {runs[-1]['test'][m]:.4f}" for m in task.logged)
            logger.debug(f"seed {seed} fold {fold}: {describe_selection(runs[-1])}, test {scores}")
            progress.set_postfix_str(f"seed {seed} fold {fold}: {task.metrics[0]} {runs[-1]['test'][task.metrics[0]]:.3f}")
            progress.update()
    training_seconds = time.time() - started
    torch.set_num_threads(threads)

    results = run_results(experiment, protocol_info, runs)
    if clip_rule:
        results["authors_clip_rule"] = dict(clip_rule)
    if reference is not None:
        results["reference"] = {"name": reference_name(reference_fn), "metrics": reference}
    results["timing_seconds"] = {
        # when first computed (caches and finished runs are reused)
        "feature_extraction": cache_info(cache_path).get("extraction_seconds"),
        "probe_training_all_runs": round(sum(r.get("seconds", float("nan")) for r in runs), 1),
        # this run's wall time (finished folds reused count nothing)
        "probe_training_this_run": round(training_seconds, 1),
        "reference_this_run": round(reference_seconds, 1) if reference is not None else None,
    }
    results["machine"] = machine
    if hparams["export_classifier"]:
        results["classifier"] = export(experiment, extractor, runs, results)
    output_folder = hparams["output_folder"]
    task.plot(results, output_folder)
    write_json(os.path.join(output_folder, "results.json"), results)
    write_text(os.path.join(output_folder, "results.md"), task.markdown(results))
    write_layer_weights(output_folder, runs, extractor, dims,
                        f"{hparams['dataset']} / {hparams['encoder_name']}: {results['probe_head']}")
    summary = f"{hparams['dataset']} / {hparams['encoder_name']}: {task.headline(results['metrics'])}"
    if reference is not None:
        summary += f" (reference {reference_name(reference_fn)}: {task.headline(reference)})"
    logger.info(f"{summary}; {len(runs)} probes in {training_seconds:.1f} s (reference "
                f"{reference_seconds:.1f} s) -> {os.path.join(output_folder, 'results.md')}")
    return results


def train_fold(experiment, sets, seed, fold, folder):
    """Trains, selects and tests the probe(s) of one test fold and seed
    (see the module docstring); the result is saved in ``folder``
    (``result.json``) with its identity (:func:`fold_identity`), so that a
    finished run with the same inputs is not repeated and one whose inputs
    changed is. Per-epoch validation scores go to ``folder/train_log.txt``."""
    result_path = os.path.join(folder, "result.json")
    identity = fold_identity(experiment, sets, seed)
    if os.path.isfile(result_path):
        try:
            with open(result_path, encoding="utf-8") as handle:
                saved = json.load(handle)
        except (OSError, ValueError) as error:
            saved = {}
            logger.warning(f"{result_path}: unreadable ({error}); trained again")
        if saved.get("identity") == identity:
            return saved
        if saved:
            logger.info(f"{result_path}: its corpus, labels, split, features or options changed; trained again")
    started = time.time()
    train, valid, test = (sorted(ids) for ids in sets)
    if experiment.head["solver"] == "lbfgs":
        result = _fit_linear_fold(experiment, train, valid, test)
    else:
        result = _train_minibatch_fold(experiment, train, valid, test, seed, folder)
    result = {
        "seed": seed,
        "fold": fold,
        **result,
        "refit": experiment.head["refit"],
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "seconds": round(time.time() - started, 2),
        "identity": identity,
    }
    write_json(result_path, result)
    return result


def _train_minibatch_fold(experiment, train, valid, test, seed, folder):
    """A minibatch head's fold: selection on ``valid``, refit, one test."""
    head, task = experiment.head, experiment.task
    members = head["members"]
    seeds = [seed] if members == 1 else [1000 * seed + k for k in range(members)]
    os.makedirs(folder, exist_ok=True)
    log_path = os.path.join(folder, "train_log.txt")
    if os.path.exists(log_path):  # an interrupted attempt's epochs
        os.remove(log_path)
    logger_ = experiment.hparams["train_logger"](save_file=log_path)

    def log(epoch, losses, scores):
        valid_stats = ({task.selection: scores[0]} if len(scores) == 1 else
                       {f"{task.selection}_member_{k}": score for k, score in enumerate(scores)})
        logger_.log_stats({"epoch": epoch}, train_stats={"loss": float(np.mean(losses))}, valid_stats=valid_stats,
                          verbose=False)

    fitted = fit_probes(experiment, seed, seeds, train, valid, log=log)
    selected = [epoch for _, epoch, _ in fitted]
    scores = [score for _, _, score in fitted]
    if head["refit"]:
        fitted = fit_probes(experiment, seed, seeds, train + valid, None, stop_epochs=selected)
    probes = [probe for probe, _, _ in fitted]
    stats, outputs = test_probes(experiment, probes, train + valid if head["refit"] else train, test)
    result = {
        "best_epoch": selected[0] if members == 1 else int(np.median(selected)),
        f"valid_{task.selection}": scores[0] if members == 1 else float(np.mean(scores)),
        "test": {m: stats[m] for m in task.metrics},
        "layer_weights": np.mean([p.layer_weights().detach().tolist() for p in probes], axis=0).tolist(),
        "outputs": outputs,
    }
    if members > 1:
        result["members"] = {"count": members, "best_epochs": selected, f"valid_{task.selection}": scores}
    return result


def _fit_linear_fold(experiment, train, valid, test):
    """A full-batch linear head's fold: ``C`` by cross-validation over the
    non-test speaker groups, the fit on all of them, one test. The fit does
    not depend on the seed: a fold already fitted in this run (another seed)
    is reused (its result is kept in memory for the run)."""
    key = (tuple(train), tuple(valid), tuple(test))
    memo = experiment.linear_folds
    if key not in memo:
        everything = train + valid
        probe, choice = fit_linear_probe(experiment, everything)
        stats, outputs = test_probes(experiment, [probe], everything, test)
        memo[key] = {
            "best_epoch": None,
            "C": choice["C"],
            f"valid_{experiment.task.selection}": choice["cv_scores"].get(choice["C"]),
            "cv_scores": {str(c): s for c, s in choice["cv_scores"].items()},
            "test": {m: stats[m] for m in experiment.task.metrics},
            "layer_weights": probe.layer_weights().detach().tolist(),
            "outputs": outputs,
        }
    return dict(memo[key])


def new_probe(experiment, seed, train):
    """A fresh probe drawn under ``seed``, its inputs standardised on ``train``."""
    torch.manual_seed(seed)
    probe = experiment.head["probe"](**experiment.dims)
    probe.set_normalisation(stack(experiment.features, train))
    return probe


def fit_probes(experiment, seed, seeds, train, valid, log=None, stop_epochs=None):
    """The members (``seeds``) trained together on ``train``; with
    ``valid``, each keeps its best validation epoch, else each stops after
    its ``stop_epochs``. Dropout draws from the global generator, seeded with
    the fold's ``seed``. Returns ``[(probe, epoch, score)]``."""
    head, task = experiment.head, experiment.task
    probes = [new_probe(experiment, member_seed, train) for member_seed in seeds]
    torch.manual_seed(seed)
    return train_members(
        probes, seeds, head["opt_class"], task.objective(train, head),
        (stack(experiment.features, train), task.target_tensor(train)),
        None if valid is None else (stack(experiment.features, valid), task.target_tensor(valid)),
        epochs=head["epochs"], stop_epochs=stop_epochs, batch_size=experiment.hparams["batch_size"], log=log)


def fit_linear_probe(experiment, ids):
    """A full-batch linear probe fitted on ``ids`` (``C`` chosen by
    cross-validation over their speaker groups when the head lists several).
    Returns the probe and :func:`care.probing.training.fit_linear`'s choice."""
    head, task, data = experiment.head, experiment.task, experiment.data
    probe = new_probe(experiment, 0, ids)  # zero-initialised by the fit; the seed is irrelevant
    groups = [data[u].get("fold", data[u].get("speaker")) for u in ids]
    choice = fit_linear(probe, task.objective(ids, head), stack(experiment.features, ids),
                        task.target_tensor(ids), groups, head["C"], head["max_iterations"])
    return probe.eval(), choice


def test_probes(experiment, probes, train, test):
    """The test fold, read once: the probes' outputs and the task's metrics."""
    features = stack(experiment.features, test)
    with torch.no_grad():
        outputs = torch.stack([probe.eval()(features) for probe in probes])
    return experiment.task.test(experiment.task.objective(train, experiment.head), outputs, test)


def fold_identity(experiment, sets, seed):
    """A hash of everything a (fold, seed) depends on besides the run's
    options (which name its folder, :func:`signature`): the utterances of its
    train, valid and test sets, their labels or values and feature digests,
    the task's outputs and the seed."""
    if experiment.digests is None:  # once per experiment
        experiment.digests = feature_digests(experiment.features)
    task, digests = experiment.task, experiment.digests
    parts = {
        "seed": seed,
        "outputs": list(task.outputs),
        "sets": [[[u, task.target(u), digests[u]] for u in sorted(ids)] for ids in sets],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe_selection(run):
    """``epoch 12`` or ``C 0.1``: what validation chose for a run."""
    return f"C {run['C']:g}" if run.get("C") is not None else f"epoch {run['best_epoch']}"


def export(experiment, extractor, runs, results):
    """Trains the exported probe on every utterance (see the module docstring)."""
    hparams, task, head = experiment.hparams, experiment.task, experiment.head
    seed = hparams["seeds"][0]
    everything = sorted(experiment.data)
    if head["solver"] == "lbfgs":
        values = sorted(r["C"] for r in runs)
        head = dict(head, C=[values[(len(values) - 1) // 2]])  # the median (the lower of two)
        probe, _ = fit_linear_probe(dataclasses.replace(experiment, head=head), everything)
        trained = f"C {head['C'][0]:g} (median chosen C), full-batch"
        exported = {"C": head["C"][0]}
    else:
        epochs = max(1, int(np.median([r["best_epoch"] for r in runs])))
        seeds = [seed] if head["members"] == 1 else [1000 * seed + k for k in range(head["members"])]
        probes = [p for p, _, _ in fit_probes(experiment, seed, seeds, everything, None,
                                              stop_epochs=[epochs] * len(seeds))]
        probe = probes[0] if len(probes) == 1 else ProbeEnsemble.from_members(probes)
        trained = f"{epochs} epochs (median selected epoch), " + (
            f"seed {seed}" if len(seeds) == 1 else f"{len(seeds)} members, seeds {seeds}")
        exported = {"epochs": epochs, "seed": seed}
    folder = os.path.join(hparams["output_folder"], "classifier")
    layers = experiment.dims.get("layers")
    info = {
        "dataset": hparams["dataset"],
        "encoder_source": str(hparams["encoder_source"]),
        "probe_head": hparams.get("probe_head", "probe"),
        "layers": "all" if layers is None else layers,
        "trained_on": f"all {len(everything)} utterances, {trained}",
        **task.classifier_info(results["metrics"]),
    }
    normalization = experiment.normalization
    if normalization["mode"] != "none":
        info["feature_normalization"] = normalization_results(normalization)["description"]
        normalization = {"mode": normalization["mode"], "min_utterances": normalization["min_utterances"],
                         "mean": normalization["mean"], "std": normalization["std"]}
    save_classifier(folder, extractor, probe.cpu().eval(), list(task.outputs), info=info,
                    outputs=task.classifier_outputs(task.objective(everything, head)),
                    normalization=None if normalization["mode"] == "none" else normalization)
    logger.info(f"Exported the classifier to {folder}")
    return {"folder": folder, **exported}


def signature(hparams, task, cache_path, layers, head, protocol_info, normalization=None):
    """The checkpoint folder of a run: the task's prefix and a hash of
    everything that shapes a probe run, so that a changed option never
    resumes from another configuration (a feature normalisation other than
    ``none`` adds its mode and minimum; without one, the hash is that of the
    runs made before the option existed, which therefore resume)."""
    prefix, parts = task.signature(head, protocol_info)
    mode = (normalization or {}).get("mode", "none")
    if mode != "none":
        parts = {**parts, "feature_normalization": [mode, normalization.get("min_utterances")]}
    parts = {
        "features": cache_path,
        "encoder_source": str(hparams["encoder_source"]),
        "layers": layers,
        "probe": describe(head["probe"]),
        "training": ({"solver": "lbfgs", "C": head["C"], "max_iterations": head["max_iterations"]}
                     if head["solver"] == "lbfgs" else
                     {"opt": describe(head["opt_class"]), "epochs": head["epochs"],
                      "batch_size": hparams["batch_size"]}),
        "num_valid_folds": hparams["num_valid_folds"],
        **parts,
    }
    return prefix + hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def describe(obj):
    """A callable (or ``functools.partial``) as its name and keywords."""
    func = getattr(obj, "func", obj)
    return [getattr(func, "__qualname__", str(func)), getattr(obj, "keywords", {})]


def _run_option(run_opts, name):
    """A SpeechBrain run option (``--noprogressbar``), from a dict or an object."""
    return bool(run_opts.get(name) if isinstance(run_opts, dict) else getattr(run_opts, name, False))


def _is_authors(head):
    func = getattr(head["probe"], "func", head["probe"])
    return isinstance(func, type) and issubclass(func, AuthorsProbe)
