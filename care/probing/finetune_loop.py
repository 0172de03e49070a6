"""The fine-tuning experiment of ``hparams/finetune.yaml``, shared by every
dataset recipe: the recipe's preparation and folds (as its probing run), per
test fold a fresh encoder and head trained with
:class:`care.probing.finetune.EmotionFineTuner`, the checkpoint of best
validation weighted F1 tested once, then the exported classifier,
``results.json`` and ``results.md``.

A recipe's ``train.py`` is unchanged: ``care.probing.run.run_recipe`` hands a
YAML with ``train_parts`` (a finetune.yaml) to :func:`run_finetuning`::

    python recipes/EmoDB/emotion/train.py hparams/finetune.yaml \\
        --data_folder DATA/emodb --encoder_source random:care_small

**Resuming.** Each fold trains in ``save/<run>/fold_<f>/`` (``run``: a hash of
the options and of the initial encoder's weights) with SpeechBrain's
checkpointer (atomic checkpoints, the random-number states and the training
loader's position: :mod:`care.checkpoints`), so a killed run started again
with the same command continues where it stopped and ends as the
uninterrupted run would. A finished fold leaves ``result.json`` (with the
identity of its split, labels, seed and options) and its checkpoints are
deleted; a fold whose identity changed is trained afresh.

**The exported classifier** (``export_classifier``) is an encoder and head
fine-tuned on *every* utterance for the median of the epochs the validation
folds chose (the folds' learning-rate schedule, stopped there): no test fold
chooses it, as for probing. It is written by
:func:`care.inference.save_classifier` (the fine-tuned encoder inside
``extractor.ckpt``, ``checksums.sha256``, strict loading), so
``EmotionRecognizer`` and ``care-classify`` load it unchanged.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.logger import get_logger

from care.checkpoints import AtomicCheckpointer, RandomState
from care.inference import save_classifier
from care.io import write_json, write_text
from care.probing.categorical import CategoricalTask
from care.probing.extractors import build_extractor, extractor_fingerprint, resolve_layers
from care.probing.finetune import EmotionFineTuner, finetune_datasets, pooled_layers, set_trainable, trainable_encoder
from care.probing.metrics import METRIC_NAMES, METRICS, summarize
from care.probing.summary import results_header
from care.probing.training import check_linear, fit_linear
from care.processing.manifest import MANIFEST_FILE, PREPARE_FILE, load_manifest
from care.recipe import InputError

logger = get_logger(__name__)

# Keys every finetune.yaml defines (tests/test_finetune.py checks the recipes
# and the template). Besides these, sb.Brain reads its run options from the
# YAML: precision, eval_precision, max_grad_norm, grad_accumulation_factor,
# ckpt_interval_minutes, noprogressbar.
FINETUNE_KEYS = (
    "seed", "dataset", "data_folder", "encoder_source", "encoder_name", "hf_cache", "layers", "pooling",
    "protocol", "check_speakers", "output_folder", "save_folder", "prepare_folder", "prepare_options",
    "num_valid_folds", "test_folds", "task", "train_parts", "detach_acoustic", "head_class", "compute_cost",
    "encoder_opt_class", "head_opt_class", "encoder_scheduler", "head_scheduler", "freeze_encoder_steps",
    "number_of_epochs", "epoch_counter", "batch_size", "dynamic_batch_options", "train_dataloader_opts",
    "valid_dataloader_opts", "augment", "wav_augment", "train_logger", "export_classifier", "head_init",
    "head_init_C", "balance_classes",
)  # fmt: skip

# What names a run's checkpoint folder (with the initial encoder's weights).
SIGNATURE_KEYS = (
    "encoder_source", "layers", "pooling", "train_parts", "detach_acoustic", "head_class", "compute_cost",
    "encoder_opt_class", "head_opt_class", "encoder_scheduler", "head_scheduler", "freeze_encoder_steps",
    "number_of_epochs", "batch_size", "dynamic_batch_options", "augment", "wav_augment", "num_valid_folds", "precision",
    "grad_accumulation_factor", "max_grad_norm", "head_init", "head_init_C", "balance_classes",
)  # fmt: skip


def run_finetuning(hparams, run_opts, protocol_splits):
    """Cross-validated fine-tuning of one encoder on one prepared corpus.

    Arguments
    ---------
    hparams : dict
        A loaded ``finetune.yaml`` (see ``recipes/EmoDB/emotion/hparams/finetune.yaml``).
    run_opts : RunOptions or dict
        SpeechBrain run options (``--device``, ``--precision``, ...).
    protocol_splits : callable
        :func:`care.probing.run.protocol_splits` (the probing run's folds;
        passed in because ``care.probing.run`` imports this module).

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    if hparams["task"] != "categorical":
        raise InputError(f"task: {hparams['task']}; fine-tuning trains a classifier (task: categorical)")
    data = load_manifest(os.path.join(hparams["prepare_folder"], MANIFEST_FILE), hparams["data_folder"])
    with open(os.path.join(hparams["prepare_folder"], PREPARE_FILE), encoding="utf-8") as handle:
        protocol = json.load(handle).get("protocol", "")
    task = CategoricalTask(hparams, data)
    splits, protocol_info = protocol_splits(hparams, data, protocol)
    initial = build_model(hparams, task)  # checks the options before any training
    if hparams["head_init"] not in (None, "probe"):
        raise InputError(f"head_init: {hparams['head_init']!r}; expected null (random) or probe")
    if hparams["head_init"] == "probe":
        try:
            check_linear(initial["head"])
        except ValueError:
            raise InputError("head_init: probe fits the head as the frozen probe is fitted, so the head must be "
                             "one linear layer over the layers side by side: --head_class \"{num_hidden_layers: 0, "
                             "layer_combination: concatenate}\"") from None
    folder = os.path.join(hparams["save_folder"], signature(hparams, initial["extractor"]))
    del initial

    started = time.time()
    runs = []
    for fold, train, valid, test in splits:
        fold_dir = fold if str(fold).startswith("fold") else f"fold_{fold}"
        runs.append(finetune_fold(hparams, run_opts, task, (train, valid, test), fold,
                                  os.path.join(folder, fold_dir)))
        logger.info(f"fold {fold}: epoch {runs[-1]['best_epoch']}, test weighted F1 "
                    f"{runs[-1]['test']['weighted_f1']:.4f}, UA {runs[-1]['test']['ua']:.4f}")
    summary = summarize(runs, metrics=task.metrics)
    results = {
        **results_header(hparams, protocol_info, data),
        "fine_tuning": describe_training(hparams, runs),
        **task.description(data),
        "seeds": [hparams["seed"]],
        "folds": list(summary["per_fold"]),
        "metrics": summary,
        "pooled_over_folds": task.pooled(runs),
        **task.extra_results(runs),
        "mean_layer_weights": [round(float(w), 4) for w in np.mean([r["layer_weights"] for r in runs], axis=0)],
        "runs": [{k: v for k, v in r.items() if k != "outputs"} for r in runs],
        "probe_head": "finetune",
        "timing_seconds": {"training_all_folds": round(sum(r["seconds"] for r in runs), 1),
                           "this_run": round(time.time() - started, 1)},
        "machine": machine(run_opts),
    }
    if hparams["export_classifier"]:
        results["classifier"] = export(hparams, run_opts, task, data, runs, results, os.path.join(folder, "export"))
    output_folder = hparams["output_folder"]
    task.plot(results, output_folder)
    write_json(os.path.join(output_folder, "results.json"), results)
    write_text(os.path.join(output_folder, "results.md"), finetune_markdown(results))
    logger.info(f"{hparams['dataset']} / {hparams['encoder_name']} fine-tuned: {task.headline(summary)} "
                f"-> {os.path.join(output_folder, 'results.md')}")
    return results


def finetune_fold(hparams, run_opts, task, sets, fold, folder):
    """Fine-tunes on ``train``, keeps the epoch of best validation weighted
    F1, tests it once on ``test``; ``result.json`` in ``folder`` (a finished
    fold with the same identity is read back, not trained again)."""
    train, valid, test = (sorted(ids) for ids in sets)
    identity = fold_identity(hparams, task, (train, valid, test))
    result_path = os.path.join(folder, "result.json")
    saved = _read_json(result_path)
    if saved.get("identity") == identity:
        return saved
    _claim(folder, identity)
    started = time.time()
    model = build_model(hparams, task)
    datasets = finetune_datasets(task.data, {"train": train, "valid": valid, "test": test}, task.label_encoder)
    brain, loader_kwargs = make_brain(hparams, run_opts, model, datasets["train"], folder,
                                      hparams["number_of_epochs"], class_weights(hparams, task, train))
    init_head(hparams, task, brain, datasets["train"])
    # copies: SpeechBrain writes ckpt_prefix into the loader options it is given, and the
    # next fold's fit would then pass it twice
    brain.fit(brain.hparams.epoch_counter, datasets["train"], datasets["valid"],
              train_loader_kwargs=loader_kwargs, valid_loader_kwargs=dict(hparams["valid_dataloader_opts"]))
    brain.evaluate(datasets["test"], max_key="weighted_f1",
                   test_loader_kwargs=dict(hparams["valid_dataloader_opts"]))
    best = brain.checkpointer.find_checkpoint(max_key="weighted_f1")
    result = {
        "seed": hparams["seed"],
        "fold": fold,
        "best_epoch": best.meta["epoch"],
        "valid_weighted_f1": best.meta["weighted_f1"],
        "test": {m: brain.test_stats[m] for m in task.metrics},
        "layer_weights": model["head"].layer_weights().detach().float().cpu().tolist(),
        "outputs": brain.test_outputs,
        "trainable_parameters": model["trainable"],
        "optimizer_steps": brain.optimizer_step,
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "seconds": round(time.time() - started, 1),
        "identity": identity,
    }
    write_json(result_path, result)
    brain.checkpointer.delete_checkpoints(num_to_keep=0)  # the result holds what the fold gave
    return result


def build_model(hparams, task):
    """A fresh encoder (``encoder_source``, its ``train_parts`` trainable)
    and head, drawn under ``seed``: ``{"extractor", "encoder", "head",
    "trainable"}`` (the extractor wraps the encoder, for the export)."""
    sb.utils.seed_everything(hparams["seed"])
    extractor = build_extractor(hparams["encoder_source"], hparams["hf_cache"], hparams["pooling"])
    encoder = trainable_encoder(extractor, hparams["detach_acoustic"])
    trainable = set_trainable(encoder, hparams["train_parts"])
    head = hparams["head_class"](num_layers=extractor.num_layers, input_dim=extractor.dim,
                                 num_classes=len(task.outputs), layers=resolve_layers(hparams["layers"], extractor))
    return {"extractor": extractor, "encoder": encoder, "head": head, "trainable": trainable}


def init_head(hparams, task, brain, train_set):
    """``head_init: probe``: before fine-tuning, the head is the frozen probe
    of the initial encoder (linear probing, then fine-tuning; Kumar et al.
    2022, "Fine-tuning can distort pretrained features and underperform
    out-of-distribution"): the training utterances' pooled layers, the head's
    standardisation set on them, and its linear layer fitted to the optimum of
    the class-balanced loss with L2 ``head_init_C`` (:func:`fit_linear`, as
    ``linear_concat`` is fitted). Skipped when a checkpoint will be recovered
    (it holds the head) and for ``head_init: null`` (random)."""
    if hparams["head_init"] != "probe" or brain.checkpointer.find_checkpoint() is not None:
        return
    encoder, head = brain.modules.encoder, brain.modules.head
    loader = sb.dataio.dataloader.make_dataloader(train_set, batch_size=8)
    features, order = [], []
    encoder.eval()
    with torch.no_grad():
        for batch in loader:
            wavs, lens = batch.sig
            features.append(pooled_layers(encoder, wavs.to(brain.device), lens.to(brain.device),
                                          hparams["pooling"]).float().cpu())
            order += batch.id
    features = torch.cat(features)
    head.cpu()  # fitted where the features are (in place), then back
    head.set_normalisation(features)
    objective = task.objective(order, {"balance_classes": True})
    choice = fit_linear(head, objective, features, task.target_tensor(order),
                        [task.data[u]["speaker"] for u in order], [float(hparams["head_init_C"])])
    head.to(brain.device)
    logger.info(f"head_init: probe: the head fitted on {len(order)} utterances' frozen features (C = {choice['C']})")


def class_weights(hparams, task, ids):
    """``balance_classes``: the loss weights of the classes, their inverse
    frequency among ``ids`` (as the probes' ``balance_classes``); else None."""
    if not hparams["balance_classes"]:
        return None
    return task.objective(ids, {"balance_classes": True}).class_weight


def make_brain(hparams, run_opts, model, train_set, folder, epochs, weights=None, validates=True):
    """The fold's Brain (its own checkpointer in ``folder``, schedules over
    ``number_of_epochs`` of ``train_set``'s batches, an epoch counter up to
    ``epochs``, the loss's class ``weights``) and its training loader's arguments."""
    if hparams["batch_size"] is None:  # batches of about the same total audio
        sampler = DynamicBatchSampler(train_set, length_func=lambda item: item["duration"],
                                      **hparams["dynamic_batch_options"])
        loader_kwargs, batches = {"batch_sampler": sampler}, len(sampler)
    else:
        sampler = None
        loader_kwargs = {"batch_size": hparams["batch_size"], "shuffle": True}
        batches = math.ceil(len(train_set) / hparams["batch_size"])
    accumulation = int(run_opts_value(run_opts, hparams, "grad_accumulation_factor", 1))
    steps = max(1, batches * hparams["number_of_epochs"] // accumulation)  # optimizer steps of a fold
    counter = hparams["epoch_counter"](limit=epochs)
    schedulers = {"head_scheduler": hparams["head_scheduler"](num_training_steps=steps),
                  "encoder_scheduler": hparams["encoder_scheduler"](
                      num_training_steps=max(1, steps - hparams["freeze_encoder_steps"]))}
    random_state = RandomState(hparams["seed"])
    checkpointer = AtomicCheckpointer(folder, recoverables={
        "encoder": model["encoder"], "head": model["head"], "counter": counter,
        "random_state": random_state, **schedulers})
    fold_hparams = {**hparams, **schedulers, "epoch_counter": counter,
                    "num_classes": model["head"].config["num_classes"], "class_weights": weights,
                    "train_logger": hparams["train_logger"](save_file=os.path.join(folder, "train_log.txt"))}
    brain = EmotionFineTuner(modules={"encoder": model["encoder"], "head": model["head"]},
                             hparams=fold_hparams, run_opts=run_opts, checkpointer=checkpointer)
    brain.validates = validates
    if sampler is not None:  # told each epoch's number (else every epoch's batches are the same)
        brain.train_sampler = sampler
    # Epochs' loaders draw from their own checkpointed generator (exact resume).
    loader_kwargs["generator"] = random_state.loader_generator
    return brain, {**loader_kwargs, **hparams["train_dataloader_opts"]}


def export(hparams, run_opts, task, data, runs, results, folder):
    """Fine-tunes on every utterance for the median selected epoch count and
    writes ``<output_folder>/classifier`` (see the module docstring)."""
    epochs = max(1, int(np.median([r["best_epoch"] for r in runs])))
    everything = sorted(data)
    identity = fold_identity(hparams, task, (everything, [], []), epochs=epochs)
    classifier = os.path.join(hparams["output_folder"], "classifier")
    done = os.path.join(folder, "exported.json")
    if _read_json(done).get("identity") == identity and os.path.isdir(classifier):
        return {"folder": classifier, "epochs": epochs}
    _claim(folder, identity)
    model = build_model(hparams, task)
    train_set = finetune_datasets(data, {"all": everything}, task.label_encoder)["all"]
    brain, loader_kwargs = make_brain(hparams, run_opts, model, train_set, folder, epochs,
                                      class_weights(hparams, task, everything), validates=False)
    init_head(hparams, task, brain, train_set)
    brain.fit(brain.hparams.epoch_counter, train_set, None, train_loader_kwargs=loader_kwargs)
    extractor = model["extractor"].cpu().eval().requires_grad_(False)
    info = {
        "dataset": hparams["dataset"],
        "encoder_source": str(hparams["encoder_source"]),
        "probe_head": "finetune",
        "layers": hparams["layers"],
        "trained_on": f"all {len(everything)} utterances, encoder fine-tuned with its head "
                      f"({', '.join(hparams['train_parts']) or 'head only'}), {epochs} epochs "
                      f"(median selected epoch), seed {hparams['seed']}",
        **task.classifier_info(results["metrics"]),
    }
    save_classifier(classifier, extractor, model["head"].cpu().eval(), list(task.outputs), info=info)
    write_json(done, {"identity": identity})
    brain.checkpointer.delete_checkpoints(num_to_keep=0)
    logger.info(f"Exported the fine-tuned classifier to {classifier}")
    return {"folder": classifier, "epochs": epochs}


def signature(hparams, extractor):
    """The checkpoint folder of a run: ``finetune-`` and a hash of the
    options that shape training and of the initial encoder's weights."""
    parts = {key: _describe(hparams.get(key)) for key in SIGNATURE_KEYS}
    parts["encoder"] = extractor_fingerprint(extractor)
    return "finetune-" + hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def fold_identity(hparams, task, sets, epochs=None):
    """A hash of what a fold depends on besides the run's options: its
    utterances and their labels, the classes, the seed (and the export's epochs)."""
    parts = {"seed": hparams["seed"], "outputs": list(task.outputs), "epochs": epochs,
             "sets": [[[u, task.target(u)] for u in ids] for ids in sets]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def describe_training(hparams, runs):
    """What ``results.json`` records of the fine-tuning options."""
    return {
        "train_parts": list(hparams["train_parts"]),
        "trainable_parameters": runs[0]["trainable_parameters"] if runs else {},
        "encoder_lr": hparams["encoder_opt_class"].keywords.get("lr"),
        "head_lr": hparams["head_opt_class"].keywords.get("lr"),
        "freeze_encoder_steps": hparams["freeze_encoder_steps"],
        "number_of_epochs": hparams["number_of_epochs"],
        "batches": ("dynamic, " + str(hparams["dynamic_batch_options"].get("max_batch_length")) + " s"
                    if hparams["batch_size"] is None else f"{hparams['batch_size']} utterances"),
        "augment": bool(hparams["augment"]),
        "head_init": hparams["head_init"] or "random",
        "balance_classes": bool(hparams["balance_classes"]),
        "precision": hparams.get("precision"),
        "optimizer_steps": [r["optimizer_steps"] for r in runs],
    }


def finetune_markdown(results):
    """``results.md`` of a fine-tuning run."""
    summary, training = results["metrics"], results["fine_tuning"]
    lines = [
        f"# {results['dataset']}: `{results['encoder_source']}` fine-tuned with its head",
        "",
        f"- Protocol: {results['protocol']}",
        "- Speaker-independent: " + ("yes" if results["speaker_independent"] else "**no**"),
        f"- {results['utterances']} utterances, labels {', '.join(results['labels'])}; "
        f"seed {results['seeds'][0]}; test folds: {len(results['folds'])}",
        f"- Trained: {', '.join(training['train_parts']) or 'head only'} "
        f"({sum(training['trainable_parameters'].values()) / 1e6:.1f} M parameters) and the head "
        f"({'started from the frozen probe' if training.get('head_init') == 'probe' else 'random start'}); "
        f"encoder lr {training['encoder_lr']}, head lr {training['head_lr']}; encoder frozen for "
        f"{training['freeze_encoder_steps']} steps; epochs: at most {training['number_of_epochs']} "
        f"(validation weighted F1 picks one); batches {training['batches']}; augmentation "
        f"{'on' if training['augment'] else 'off'}; precision {training['precision']}",
        f"- Machine: {results['machine']['description']}; time: training "
        f"{results['timing_seconds']['training_all_folds']:.1f} s (all folds)",
        "",
        "| metric | mean over folds | std over folds | pooled predictions |",
        "|---|---|---|---|",
    ]
    lines += [f"| {METRIC_NAMES[m]} | {100 * summary['mean'][m]:.2f} | {100 * summary['std_folds'][m]:.2f} | "
              f"{100 * results['pooled_over_folds'][m]:.2f} |" for m in METRICS]
    lines += ["", "Per test fold (%), with the selected epoch:", "",
              "| fold | epoch | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " |",
              "|---" * (len(METRICS) + 2) + "|"]
    for run in results["runs"]:
        lines.append(f"| {run['fold']} | {run['best_epoch']} | "
                     + " | ".join(f"{100 * run['test'][m]:.2f}" for m in METRICS) + " |")
    lines += ["", f"Head layer weights (mean over folds): {results['mean_layer_weights']}", "",
              "Confusion matrix (all folds): confusion.png"]
    if "classifier" in results:
        lines.append(f"Exported classifier: {results['classifier']['folder']} "
                     f"(trained on every utterance; epochs: {results['classifier']['epochs']})")
    return "\n".join(lines) + "\n"


def machine(run_opts):
    """The device and software a run used."""
    device = run_opts_value(run_opts, {}, "device", None) or ("cuda:0" if torch.cuda.is_available() else "cpu")
    text = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), device {device}"
    if str(device).startswith("cuda"):
        text += f" ({torch.cuda.get_device_name(torch.device(device))})"
    return {"description": text, "python": sys.version.split()[0], "torch": torch.__version__}


def run_opts_value(run_opts, hparams, name, default):
    """A run option as sb.Brain resolves it: the command line's, else the YAML's, else ``default``."""
    given = getattr(run_opts, "overridden_args", None) or (set(run_opts) if isinstance(run_opts, dict) else set())
    if name in given:
        return run_opts[name] if isinstance(run_opts, dict) else getattr(run_opts, name)
    return hparams.get(name, default)


def _claim(folder, identity):
    """Empties ``folder`` unless it holds an interrupted attempt of ``identity`` (resumed)."""
    marker = os.path.join(folder, "identity.json")
    if os.path.isdir(folder) and _read_json(marker).get("identity") != identity:
        logger.info(f"{folder}: its split, labels or seed changed; trained afresh")
        shutil.rmtree(folder)
    os.makedirs(folder, exist_ok=True)
    if not os.path.isfile(marker):
        write_json(marker, {"identity": identity})


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _describe(value):
    """An option as plain data: a ``functools.partial`` as its name and keywords."""
    func = getattr(value, "func", None)
    if func is not None:
        return [getattr(func, "__qualname__", str(func)), getattr(value, "keywords", {})]
    if isinstance(value, torch.nn.Module):
        return repr(value)
    return value
