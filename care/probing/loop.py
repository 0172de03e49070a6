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
- ``brain_class``: the ``sb.Brain`` with the task's hooks (loss, metrics,
  best-epoch checkpoints under ``selection``); ``dataset(ids, features)``:
  what it reads; ``brain_hparams(train, head)``: its hparams for a training
  set (loss, class weights, target scale);
- ``ensembles``: whether ``members`` > 1 trains an ensemble, whose test
  outputs ``combine(brains)`` merges;
- ``reference(hparams)``: the deterministic reference scored on the same
  features and folds (or None);
- ``signature(head, protocol_info)``: the checkpoint folder's prefix and what
  its hash covers besides the features, head and batch size;
- ``opening()`` and ``description(data)``: the fields of ``results.json``
  before and after the common header; ``pooled(seed_runs)``: the metrics of a
  seed's test predictions pooled over folds; ``extra_results(runs)``;
- ``classifier_info(summary)``, ``classifier_outputs(brain)``: what the
  exported classifier records; ``headline(summary)``, ``markdown(results)``,
  ``plot(results, folder)``: what is logged and written (every task's run
  also writes ``layer_weights.png``, :mod:`care.probing.figures`).

A third task is one such module, named in :data:`care.probing.run.TASKS`.

Per test fold and seed: the probe trains on the training folds and the epoch
of best validation score is selected; with ``refit`` (the default heads), a
fresh probe then trains on training + validation for that many epochs and is
the one tested; without it (``probe_head: authors``), the selected epoch's
probe is tested. The test fold is read once per probe, after its training.

The exported classifier (``care.inference.save_classifier``) is a probe
trained on *all* utterances of the corpus for the median of the epochs
selected on the validation folds (with ``members`` > 1, that many probes,
each with its own seed, as a ``ProbeEnsemble``); no test fold chooses it.
Its cross-validated scores are the ones in ``results.json``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.utils.logger import get_logger

from care.checkpoints import AtomicCheckpointer, RandomState
from care.inference import save_classifier
from care.io import write_json, write_text
from care.lobes.probe import AuthorsProbe, ProbeEnsemble
from care.probing.cache import cache_info
from care.probing.extractors import authors_layout
from care.probing.figures import write_layer_weights
from care.probing.metrics import summarize

logger = get_logger(__name__)


@dataclasses.dataclass
class Experiment:
    """What every probe trained in one experiment shares: the hparams, run
    options, cached features ``{utt_id: [layers, dim]}``, the manifest, the
    task (what the probe predicts), the probe's sizes (``dims``) and the
    head's settings (:func:`probe_settings`)."""

    hparams: dict
    run_opts: object
    features: dict
    data: dict
    task: object
    dims: dict
    head: dict


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


def run_experiment(task, hparams, run_opts, extractor, features, data, splits, protocol_info,
                   layers, cache_path, machine, clip_rule=None):
    """Cross-validated probing of ``task`` on cached features: every fold and
    seed (:func:`train_fold`), the reference, the exported classifier, and
    ``results.json`` / ``results.md`` in ``output_folder``.

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
    reference, reference_fn = None, task.reference(hparams)
    if reference_fn is not None:
        reference = summarize(reference_fn(features, data, splits, task.outputs, layers=layers),
                              metrics=task.metrics)

    experiment = Experiment(hparams, run_opts, features, data, task, dims, head)
    threads = torch.get_num_threads()
    # A probe is a tiny MLP: on CPU, more threads only add synchronisation.
    torch.set_num_threads(hparams["probe_num_threads"] or threads)
    folder = signature(hparams, task, cache_path, layers, head, protocol_info)
    runs = []
    for seed in hparams["seeds"]:
        for fold, train, valid, test in splits:
            fold_dir = fold if str(fold).startswith("fold") else f"fold_{fold}"  # no "fold_fold_1"
            path = os.path.join(hparams["save_folder"], folder, fold_dir, f"seed_{seed}")
            runs.append(train_fold(experiment, (train, valid, test), seed, fold, path))
            logger.info(f"seed {seed} fold {fold}: epoch {runs[-1]['best_epoch']}, test "
                        + ", ".join(f"{m} {runs[-1]['test'][m]:.4f}" for m in task.logged))
    torch.set_num_threads(threads)

    results = _results(experiment, protocol_info, runs)
    if clip_rule:
        results["authors_clip_rule"] = dict(clip_rule)
    if reference is not None:
        results["reference"] = {"name": reference_name(reference_fn), "metrics": reference}
    results["timing_seconds"] = {  # when first computed (caches and finished runs are reused)
        "feature_extraction": cache_info(cache_path).get("extraction_seconds"),
        "probe_training_all_runs": round(sum(r.get("seconds", float("nan")) for r in runs), 1),
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
    logger.info(f"{hparams['dataset']} / {hparams['encoder_name']}: {task.headline(results['metrics'])}"
                f" -> {os.path.join(output_folder, 'results.md')}")
    return results


def train_fold(experiment, sets, seed, fold, folder):
    """Trains, selects and tests one probe of ``experiment`` on ``sets``
    (train, valid, test ids), or with the head's ``members`` > 1 an ensemble
    of probes trained independently; the result is saved in ``folder``
    (``result.json``), so that a finished run is not repeated.

    The epoch of best validation ``task.selection`` is kept (checkpoints in
    ``folder``); with ``refit``, a fresh probe (same seed) then trains on
    training + validation for that many epochs (checkpoint in
    ``folder/refit``) and is the one tested. Ensemble members do the same in
    ``folder/member_<k>`` with seeds ``1000 * seed + k``, and the task
    combines their test outputs. The test set is read once per member, after
    its training."""
    result_path = os.path.join(folder, "result.json")
    if os.path.isfile(result_path):
        with open(result_path, encoding="utf-8") as handle:
            return json.load(handle)
    train, valid, test = sets
    task, members = experiment.task, experiment.head["members"]
    started = time.time()
    test_set = task.dataset(sorted(test), experiment.features)
    fitted = [
        _train_member(experiment, train, valid, test_set, *((seed, folder) if members == 1 else
                      (1000 * seed + k, os.path.join(folder, f"member_{k}"))))
        for k in range(members)
    ]
    if members == 1:
        probe, brain, selected, best = fitted[0]
        stats, outputs = brain.stage_stats, brain.stage_outputs
        layer_weights = probe.layer_weights().detach().cpu().tolist()
    else:
        stats, outputs = task.combine([b for _, b, _, _ in fitted])
        selected = int(np.median([epoch for _, _, epoch, _ in fitted]))
        best = float(np.mean([score for _, _, _, score in fitted]))
        layer_weights = np.mean([p.layer_weights().detach().cpu().tolist()
                                 for p, _, _, _ in fitted], axis=0).tolist()
    result = {
        "seed": seed,
        "fold": fold,
        "best_epoch": selected,
        f"valid_{task.selection}": best,
        "refit": experiment.head["refit"],
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "test": {m: stats[m] for m in task.metrics},
        "layer_weights": layer_weights,
        "outputs": outputs,
        "seconds": round(time.time() - started, 2),
    }
    if members > 1:
        result["members"] = {"count": members, "best_epochs": [e for _, _, e, _ in fitted],
                             f"valid_{task.selection}": [s for _, _, _, s in fitted]}
    write_json(result_path, result)
    return result


def _train_member(experiment, train, valid, test_set, seed, folder):
    """One probe: trained on ``train``, its epoch selected on ``valid``,
    refit when the head says so, then tested. Returns the probe, its Brain
    (``stage_stats``, ``stage_outputs`` of the test set), the selected epoch
    and its validation score."""
    head, key = experiment.head, experiment.task.selection
    probe, brain = fit_probe(experiment, seed, sorted(train), sorted(valid), head["epoch_counter"](), folder)
    best = brain.checkpointer.find_checkpoint(max_key=key)
    selected = int(best.meta["epoch"])
    if head["refit"]:
        everything = sorted(train) + sorted(valid)
        probe, brain = fit_probe(experiment, seed, everything, None,
                                 head["epoch_counter"](limit=selected), os.path.join(folder, "refit"))
        if brain.checkpointer.find_checkpoint() is None:  # else: resumed, already trained
            brain.checkpointer.save_checkpoint(meta={"epoch": selected, "refit": True})
    brain.evaluate(
        test_set,
        max_key=None if head["refit"] else key,
        test_loader_kwargs={"batch_size": experiment.hparams["batch_size"]},
    )
    return probe, brain, selected, float(best.meta[key])


def fit_probe(experiment, seed, train, valid, counter, folder):
    """A fresh probe (``seed``), its inputs standardised on ``train``, trained
    in the task's Brain for ``counter``'s epochs. With ``folder``, checkpoints
    go there: atomic (a kill mid-save leaves nothing that is loaded) and with
    the RNG state, so that a resumed fold trains exactly as an uninterrupted
    one; with ``valid``, the Brain keeps the best validation epoch and logs to
    ``folder/train_log.txt``. Returns the probe and its Brain."""
    hparams, task, features = experiment.hparams, experiment.task, experiment.features
    sb.utils.seed_everything(seed)
    probe = experiment.head["probe"](**experiment.dims)
    probe.set_normalisation(torch.stack([features[u] for u in train]))
    brain_hparams = task.brain_hparams(train, experiment.head)
    checkpointer = None
    if folder is not None:
        checkpointer = AtomicCheckpointer(
            folder, recoverables={"probe": probe, "counter": counter, "random_state": RandomState()}
        )
    if valid is not None:
        brain_hparams["train_logger"] = hparams["train_logger"](save_file=os.path.join(folder, "train_log.txt"))
    brain = task.brain_class(
        modules={"probe": probe},
        opt_class=experiment.head["opt_class"],
        hparams=brain_hparams,
        run_opts=experiment.run_opts,
        checkpointer=checkpointer,
    )
    loader = {"batch_size": hparams["batch_size"]}
    brain.fit(counter, task.dataset(train, features),
              None if valid is None else task.dataset(valid, features),
              train_loader_kwargs={**loader, "shuffle": True}, valid_loader_kwargs=loader)
    return probe, brain


def export(experiment, extractor, runs, results):
    """Trains the exported probe on every utterance (see the module docstring)."""
    hparams, task, head = experiment.hparams, experiment.task, experiment.head
    epochs = max(1, int(np.median([r["best_epoch"] for r in runs])))
    seed = hparams["seeds"][0]
    everything = sorted(experiment.data)
    seeds = [seed] if head["members"] == 1 else [1000 * seed + k for k in range(head["members"])]
    fitted = [fit_probe(experiment, member_seed, everything, None, head["epoch_counter"](limit=epochs), None)
              for member_seed in seeds]
    probes = [probe for probe, _ in fitted]
    probe = probes[0] if len(probes) == 1 else ProbeEnsemble.from_members(probes)
    folder = os.path.join(hparams["output_folder"], "classifier")
    layers = experiment.dims.get("layers")
    info = {
        "dataset": hparams["dataset"],
        "encoder_source": str(hparams["encoder_source"]),
        "probe_head": hparams.get("probe_head", "probe"),
        "layers": "all" if layers is None else layers,
        "trained_on": f"all {len(everything)} utterances, {epochs} epochs (median selected epoch), "
        + (f"seed {seed}" if len(seeds) == 1 else f"{len(seeds)} members, seeds {seeds}"),
        **task.classifier_info(results["metrics"]),
    }
    save_classifier(folder, extractor, probe.cpu().eval(), list(task.outputs), info=info,
                    outputs=task.classifier_outputs(fitted[0][1]))
    logger.info(f"Exported the classifier to {folder}")
    return {"folder": folder, "epochs": epochs, "seed": seed}


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


def _results(experiment, protocol_info, runs):
    hparams, task = experiment.hparams, experiment.task
    summary = summarize(runs, metrics=task.metrics)
    pooled = [task.pooled([r for r in runs if r["seed"] == seed]) for seed in hparams["seeds"]]
    return {
        **task.opening(),
        **results_header(hparams, protocol_info, experiment.data),
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


def signature(hparams, task, cache_path, layers, head, protocol_info):
    """The checkpoint folder of a run: the task's prefix and a hash of
    everything that shapes a probe run, so that a changed option never
    resumes from another configuration."""
    prefix, parts = task.signature(head, protocol_info)
    parts = {
        "features": cache_path,
        "encoder_source": str(hparams["encoder_source"]),
        "layers": layers,
        "probe": describe(head["probe"]),
        "opt": describe(head["opt_class"]),
        "epochs": describe(head["epoch_counter"]),
        "batch_size": hparams["batch_size"],
        "num_valid_folds": hparams["num_valid_folds"],
        **parts,
    }
    return prefix + hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def describe(obj):
    """A callable (or ``functools.partial``) as its name and keywords."""
    func = getattr(obj, "func", obj)
    return [getattr(func, "__qualname__", str(func)), getattr(obj, "keywords", {})]


def reference_name(reference):
    """``logistic regression (C=0.1)``: a reference function and its options."""
    keywords = getattr(reference, "keywords", {})
    func = getattr(reference, "func", reference)
    options = ", ".join(f"{k}={v}" for k, v in sorted(keywords.items()))
    return func.__name__.replace("_", " ") + (f" ({options})" if options else "")


def _is_authors(head):
    func = getattr(head["probe"], "func", head["probe"])
    return isinstance(func, type) and issubclass(func, AuthorsProbe)
