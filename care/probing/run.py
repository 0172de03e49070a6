"""One emotion-probing experiment, shared by every dataset recipe: prepare
the manifest, read the protocol's splits, extract (or reuse) the encoder's
per-layer pooled features, and hand them to the probing loop
(:mod:`care.probing.loop`) with the task the YAML names (``task:
categorical``, :mod:`care.probing.categorical`; ``task: dimensional``,
:mod:`care.probing.dimensional`).

A recipe's ``train.py`` is::

    from care.probing import run_recipe
    from emodb_prepare import prepare_emodb

    if __name__ == "__main__":
        run_recipe(prepare_emodb, sys.argv[1:], recipe_dir=os.path.dirname(__file__))

The head and its training settings are picked in the YAML by ``probe_head``
(``head``: see :func:`care.probing.loop.probe_settings`); a YAML without
``head`` gives them at its top level. A reference (logistic regression, ``care.probing.reference``; ridge
regression for the dimensional task) is scored on the same features and folds.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import inspect
import json
import os
import platform
import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.logger import get_logger

from care.io import FolderBusy, exclusive_use
from care.probing.cache import cached_features
from care.probing.categorical import CategoricalTask
from care.probing.dimensional import DimensionalTask, check_task
from care.probing.emobox import emobox_splits
from care.probing.extractors import build_extractor, resolve_layers
from care.probing.finetune_loop import run_finetuning
from care.probing.loop import probe_settings, run_experiment
from care.processing.folds import check_protocol, fold_splits
from care.processing.manifest import MANIFEST_FILE, PREPARE_FILE, load_manifest
from care.processing.normalization import (
    NormalizationError,
    check_normalization,
    describe_normalization,
    normalize_features,
    single_label_speakers,
    statistics,
)
from care.recipe import InputError, load_recipe, user_errors

logger = get_logger(__name__)

# Keys every probe.yaml defines (tests/test_hparams.py checks the recipes and
# the template); read as hparams[key], never with a default in code. Besides
# these: ``head`` (picked by ``probe_head``) or, in a YAML without one, the
# head's keys at the top level (see :func:`care.probing.loop.probe_settings`); the ``emobox_*``
# keys with ``protocol: emobox``; ``authors_clip_rule`` with
# ``extract_clips: authors``.
PROBE_KEYS = (
    "seed", "dataset", "data_folder", "encoder_source", "encoder_name", "hf_cache", "layers",
    "pooling", "protocol", "check_speakers", "output_folder", "save_folder", "prepare_folder",
    "feature_folder", "prepare_options", "num_valid_folds", "test_folds",
    "extract_batch_size", "extract_clips", "seeds", "batch_size", "noprogressbar",
    "probe_num_threads", "train_logger", "reference", "export_classifier", "task",
    "feature_normalization", "normalization_min_utterances", "allow_single_label_speakers",
)  # fmt: skip

# Former names of prepare options (one name per meaning since then): an old
# YAML or --prepare_options gets what to write instead.
RENAMED_PREPARE_OPTIONS = {
    "expected_utterances": "strict: True checks the official release's counts, False accepts a subset",
    "max_unreadable": "max_bad_files (missing or unreadable audio files skipped)",
    "max_missing": "max_bad_files (missing or unreadable audio files skipped)",
    "skip_bad_files": "max_bad_files (missing or unreadable audio files skipped; null: any number)",
}


# What ``task`` in a probe.yaml may name: the task's module is all that differs
# between them (see care.probing.loop).
TASKS = {"categorical": CategoricalTask, "dimensional": DimensionalTask}


def run_recipe(prepare_fn, argv, recipe_dir=None):
    """Runs a probing recipe from command-line arguments (a ``finetune.yaml``,
    one with ``train_parts``: the fine-tuning run of :mod:`care.probing.finetune_loop`).

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
        if "train_parts" in hparams:  # a finetune.yaml: the encoder trains with its head
            return run_finetuning(hparams, run_opts, protocol_splits)
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


def run_probing(hparams, run_opts=None, normalization_pool=None):
    """Cross-validated probing of one encoder on one prepared corpus.

    Arguments
    ---------
    hparams : dict
        A loaded ``probe.yaml`` (see ``recipes/EmoDB/emotion/hparams/probe.yaml``).
    run_opts : RunOptions or dict, optional
        SpeechBrain run options (``--device`` etc.).
    normalization_pool : tuple of dict, optional
        ``(features, data)``: the utterances whose statistics normalise the
        run's features (``feature_normalization``: speaker or corpus), a
        superset of the manifest's (a cross-corpus run passes each corpus's
        every utterance, not only those of the shared labels). Default: the
        manifest's utterances.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    try:  # the run's save folder (not the output folder, whose classifier export locks it)
        with exclusive_use(hparams["save_folder"]):
            return _run_probing(hparams, run_opts, normalization_pool)
    except FolderBusy:
        raise InputError(f"{hparams['output_folder']} is in use by another probing run (the same corpus, "
                         "encoder and options): let it finish (a second run then reuses its results) or "
                         "give another --output_folder") from None


def _run_probing(hparams, run_opts, normalization_pool):
    device = _device(run_opts)
    data = load_manifest(os.path.join(hparams["prepare_folder"], MANIFEST_FILE))
    with open(os.path.join(hparams["prepare_folder"], PREPARE_FILE), encoding="utf-8") as handle:
        protocol = json.load(handle).get("protocol", "")
    check_task(hparams["task"])
    check_seeds(hparams["seeds"])
    probe_settings(hparams)  # the head's options checked before any extraction
    task = TASKS[hparams["task"]](hparams, data)  # checks the manifest holds the task's targets
    check_feature_normalization(hparams, data)
    # Fold files are read (and any unmatched id reported) before extraction.
    splits, protocol_info = protocol_splits(hparams, data, protocol)

    extractor = build_extractor(hparams["encoder_source"], hparams["hf_cache"], hparams["pooling"])
    clips = hparams["extract_clips"]
    if clips not in ("whole", "authors"):
        raise ValueError(f"extract_clips: {clips!r}; expected whole or authors")
    clip_rule = hparams["authors_clip_rule"] if clips == "authors" else None
    cache_path = feature_cache_path(hparams, clip_rule)
    # Runs of other heads or options on the same encoder share the cache: one extracts, the others wait.
    with exclusive_use(os.path.dirname(cache_path) or ".", wait=True):
        ids, features = cached_features(
            extractor,
            data,
            hparams["data_folder"],
            cache_path,
            batch_size=hparams["extract_batch_size"],
            device=device,
            clip_rule=clip_rule,
        )
    layers = resolve_layers(hparams["layers"], extractor)
    features, normalization = normalized_features(hparams, data, dict(zip(ids, features)), normalization_pool)
    return run_experiment(task, hparams, run_opts, extractor, features, data, splits,
                          protocol_info, layers, cache_path, _machine(device), clip_rule,
                          normalization=normalization)


def check_seeds(seeds):
    """Raises :class:`InputError` unless ``seeds`` is a non-empty list of
    distinct integers (``--seeds [1,2,3]``; ``--seeds 1`` is an integer)."""
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise InputError(f"seeds: {seeds!r}; expected a list of integers such as [1, 2, 3] (--seeds [1])")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds: {seeds!r}; each seed once (a repeated seed repeats the same run)")


def check_feature_normalization(hparams, data):
    """Checks ``feature_normalization`` before any extraction: a known mode,
    and for ``speaker`` on a categorical corpus, that most utterances
    z-scored by their own speaker's statistics are of speakers who speak
    several labels (per corpus, in a combined manifest;
    :func:`care.processing.normalization.single_label_speakers`). Where most
    are not (URDU), those statistics carry the label and z-scoring removes
    it: refused unless ``allow_single_label_speakers``.

    Raises
    ------
    InputError
        An unknown mode, a minimum below 2, or the refusal above.
    """
    mode = hparams["feature_normalization"]
    try:
        check_normalization(mode)
    except NormalizationError as error:
        raise InputError(f"{hparams['dataset']}: {error}") from None
    if int(hparams["normalization_min_utterances"]) < 2:
        raise InputError(f"normalization_min_utterances: {hparams['normalization_min_utterances']}; "
                         "a standard deviation needs at least 2 utterances")
    if mode != "speaker" or hparams["task"] != "categorical":
        return
    corpora = {}
    for utt, entry in data.items():
        corpora.setdefault(entry.get("corpus", hparams["dataset"]), []).append(utt)
    for corpus, ids in sorted(corpora.items()):
        share = single_label_speakers(data, ids, int(hparams["normalization_min_utterances"]))
        if share["of"] and 2 * share["utterances"] > share["of"]:
            message = (f"{corpus}: {share['utterances']} of the {share['of']} utterances that would be z-scored by "
                       f"their own speaker's statistics are of speakers who speak a single label "
                       f"({share['speakers']} of {share['of_speakers']} speakers), so those statistics carry the "
                       "label and z-scoring by them removes it (a probe then reads the speaker, not the emotion)")
            if not hparams["allow_single_label_speakers"]:
                raise InputError(f"feature_normalization: speaker refused: {message}. Use "
                                 "--feature_normalization corpus or none, or --allow_single_label_speakers "
                                 "True to run it anyway (its results then say so)")
            logger.warning(f"feature_normalization: speaker ALLOWED by allow_single_label_speakers: {message}")


def normalized_features(hparams, data, features, pool=None):
    """The run's features after ``feature_normalization``
    (:mod:`care.processing.normalization`), statistics over ``pool``
    (``(features, data)``; default the run's own), and what the results and
    the exported classifier record of it: the report, plus the corpus's raw
    statistics (``mean``, ``std``: a classifier's fallback at inference)."""
    mode = hparams["feature_normalization"]
    min_utterances = int(hparams["normalization_min_utterances"])
    if mode == "none":
        return features, {"mode": "none"}
    pool_features, pool_data = pool or (features, data)
    missing = sorted(set(features) - set(pool_features))
    if missing:
        raise ValueError(f"normalization pool lacks {len(missing)} of the run's utterances, e.g. {missing[0]}")
    normalised, report = normalize_features(pool_features, pool_data, mode, min_utterances,
                                            corpus_name=hparams["dataset"])
    if mode == "speaker" and hparams["task"] == "categorical":
        share = single_label_speakers(data, min_utterances=min_utterances)
        report.update(single_label=share,
                      single_label_speakers_allowed=bool(share["of"] and 2 * share["utterances"] > share["of"]))
    mean, std = statistics(torch.stack([features[u] for u in sorted(features)]))
    logger.info(f"feature normalisation: {describe_normalization(report)}")
    return {u: normalised[u] for u in features}, {**report, "mean": mean, "std": std}


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


def protocol_splits(hparams, data, description=""):
    """The ``(fold, train, valid, test)`` splits of ``hparams["protocol"]``
    and a description of the protocol for the results.

    - ``speaker_independent`` (default): the manifest's folds
      (:func:`care.processing.folds.fold_splits`), speaker overlap refused;
    - ``emobox``: EmoBox's fold files from ``hparams["emobox_folds"]``
      (:func:`care.probing.emobox.emobox_splits`), speaker overlap counted.

    In both, ``valid`` is a part of the training data only: the test fold
    never takes part in training or model selection.
    """
    protocol = hparams["protocol"]
    check_protocol(protocol)
    if protocol == "speaker_independent":
        splits = list(fold_splits(
            data,
            num_valid_folds=hparams["num_valid_folds"],
            folds=hparams["test_folds"],
            check_speakers=hparams["check_speakers"],
        ))
        return splits, {"name": protocol, "description": description,
                        "speaker_independent": bool(hparams["check_speakers"])}
    splits, info = emobox_splits(
        data,
        hparams["emobox_folds"],
        hparams["emobox_dataset"],
        exclude=hparams["emobox_exclude"],
        valid_fraction=hparams["emobox_valid_fraction"],
        seed=hparams["seed"],
        folds=hparams["test_folds"],
    )
    shared = {f: v["test_speakers_in_training"] for f, v in info["folds"].items()}
    speakers = {f: v["test_speakers"] for f, v in info["folds"].items()}
    text = (
        f"EmoBox folds of {info['dataset']} ({len(splits)} folds) from {info['folder']}; "
        f"classes {', '.join(info['label_set'])}"
        + (f"; excluded {info['excluded']}" if info["excluded"] else "")
    )
    if not info["speaker_independent"]:
        text += "; NOT speaker-independent: test speakers also in training " + ", ".join(
            f"{f}: {shared[f]} of {speakers[f]}" for f in shared)
    return splits, {"name": protocol, "description": text, **info}


def _device(run_opts):
    device = getattr(run_opts, "device", None) if run_opts is not None else None
    if isinstance(run_opts, dict):
        device = run_opts.get("device")
    return device or ("cuda:0" if torch.cuda.is_available() else "cpu")


def _machine(device):
    cpus = os.cpu_count()
    name = platform.processor() or platform.machine()
    text = f"{cpus} CPU cores ({name}), device {device}"
    if str(device).startswith("cuda"):
        text += f" ({torch.cuda.get_device_name(torch.device(device))})"
    return {"description": text, "python": sys.version.split()[0], "torch": torch.__version__}
