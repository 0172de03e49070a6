#!/usr/bin/env python3
"""Pretrains a CARE encoder on unlabelled speech, then exports it.

Run from the repository root (or this folder):

    python recipes/Pretrain/train.py hparams/care_small.yaml --data_folder DIR
    torchrun --nproc_per_node=8 recipes/Pretrain/train.py hparams/care_base.yaml \
        --data_folder DIR --precision bf16

Steps: prepare manifests of every corpus under ``data_folder``
(``pretrain_prepare.py``), transcribe utterances without a transcript when
``asr_source`` is set, embed transcripts with the text teacher (cached),
extract cached frame targets (or utterance statistics) when the backend needs
them, train (``care.pretraining.CAREPretrainer``), export the encoder to
``<output_folder>/encoder/``: the final weights, or with ``keep_best_valid``
those of the checkpoint with the lowest validation loss. An interrupted run
resumes from its last checkpoint when started again with the same command.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
import sys
import traceback

import speechbrain as sb
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pretrain_prepare import prepare_pretraining  # noqa: E402

from care.lobes import save_encoder  # noqa: E402
from care.pretraining import CAREPretrainer, CropDraws, crop_length, pretraining_datasets  # noqa: E402
from care.processing import TextTargets  # noqa: E402
from care.processing.manifest import load_manifest  # noqa: E402
from care.processing.transcribe import transcribe  # noqa: E402
from care.recipe import InputError, load_recipe, user_errors  # noqa: E402

logger = get_logger(__name__)

# Where pretrained models are resolved and loaded (a frame of the traceback).
MODEL_LOADERS = (
    f"{os.sep}transformers{os.sep}",
    f"{os.sep}huggingface_hub{os.sep}",
    f"{os.sep}sentence_transformers{os.sep}",
    os.path.join("care", "lobes", "loading.py"),
    os.path.join("care", "processing", "text_targets.py"),
)


def load_pretraining_recipe(recipe_folder, argv=None):
    """:func:`care.recipe.load_recipe`, with a model that cannot be loaded
    (offline, a mistyped hub id, a missing local folder) reported as an
    :class:`InputError` that says where the models of ``care_base`` come from."""
    try:
        return load_recipe(recipe_folder, argv)
    except (OSError, ValueError) as error:
        frames = traceback.extract_tb(error.__traceback__)
        if isinstance(error, InputError) or not any(
            part in frame.filename for frame in frames for part in MODEL_LOADERS
        ):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"a pretrained model could not be loaded ({reason}). care_base needs "
            "microsoft/wavlm-base and roberta-base, from the Hugging Face hub (online, or "
            "downloaded once into its cache) or as local folders (--speech_source DIR "
            "--text_source DIR); hparams/care_small.yaml needs no download and runs offline"
        ) from None


def read_manifests(hparams):
    """``{split: {id: entry}}`` of the prepared train and valid manifests,
    ``{data_root}`` replaced by ``data_folder`` (manifests are data: a path
    that leaves the data folder is refused, naming the manifest)."""
    return {
        split: load_manifest(hparams[f"{split}_manifest"], hparams["data_folder"])
        for split in ("train", "valid")
    }


def text_targets_for(hparams, manifests):
    """Transcripts from the manifests (plus ASR where missing), embedded once.

    ``text_teacher: null`` uses the cache in ``text_cache_folder`` as it is
    (embedded elsewhere, e.g. on a machine that has the teacher): no teacher
    is loaded and nothing is re-embedded; utterances the cache lacks train the
    acoustic branch only (counted in the log).
    """
    entries = {**manifests["train"], **manifests["valid"]}
    if hparams["text_teacher"] is None:
        targets = TextTargets.load(hparams["text_cache_folder"])
        with_text = [k for k, v in entries.items() if v.get("text")]
        missing = sum(utt_id not in targets for utt_id in with_text)
        logger.info(
            "text_teacher: null: embeddings from %s as stored (%d of %d transcribed utterances missing)",
            hparams["text_cache_folder"], missing, len(with_text),
        )
        return targets
    transcripts = {utt_id: entry.get("text") for utt_id, entry in entries.items()}
    if hparams["asr_source"] is not None:
        missing = {utt_id: entry for utt_id, entry in entries.items() if not entry.get("text")}
        if missing:
            asr_file = os.path.join(hparams["manifest_folder"], "transcripts_asr.json")
            run_on_main(
                transcribe,
                kwargs={"entries": missing, "model_source": hparams["asr_source"],
                        "output_file": asr_file, **hparams["asr_options"]},
            )
            with open(asr_file, encoding="utf-8") as fin:
                transcripts.update({k: v for k, v in json.load(fin).items() if k in missing})
    run_on_main(  # embeds (what changed) on the main process only
        TextTargets.build,
        kwargs={
            "transcripts": transcripts,
            "teacher": hparams["text_teacher"],
            "cache_folder": hparams["text_cache_folder"],
        },
    )
    return TextTargets.load(hparams["text_cache_folder"])  # every process


def main():
    """Runs the recipe from the command line; returns the trained Brain."""
    hparams_file, run_opts, overrides, hparams = load_pretraining_recipe(
        os.path.dirname(os.path.abspath(__file__))
    )
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    run_on_main(
        prepare_pretraining,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["manifest_folder"],
            "exclude": hparams["exclude"],
            "min_duration": hparams["min_duration"],
            "valid_ratio": hparams["valid_ratio"],
            "seed": hparams["seed"],
        },
    )
    manifests = read_manifests(hparams)
    text_targets = text_targets_for(hparams, manifests)
    frame_targets = hparams["frame_targets"]
    if frame_targets.dim != hparams["target_dim"]:
        raise InputError(
            f"target_dim is {hparams['target_dim']} but the frame targets have "
            f"{frame_targets.dim} features: set target_dim: {frame_targets.dim}"
        )
    if hparams["train_dataloader_opts"].get("persistent_workers"):
        raise InputError(
            "train_dataloader_opts: persistent_workers would keep the first epoch's crop draws "
            "in the workers; leave it off"
        )
    crop_draws = CropDraws(hparams["seed"])
    datasets = pretraining_datasets(hparams, text_targets, crop_draws)
    if not frame_targets.on_the_fly or getattr(frame_targets, "needs_utterance_stats", False):
        for split in ("train", "valid"):
            run_on_main(frame_targets.prepare, args=[manifests[split]])  # cached on disk

    if hparams["batch_size"] is None:  # batches of about the same total audio
        train_loader_kwargs = {
            "batch_sampler": DynamicBatchSampler(
                datasets["train"],
                length_func=crop_length(hparams["crop_seconds"]),
                **hparams["dynamic_batch_options"],
            )
        }
    else:
        train_loader_kwargs = {"batch_size": hparams["batch_size"], "shuffle": True, "drop_last": True}
    # Epochs' loaders draw from their own checkpointed generator (exact resume).
    train_loader_kwargs["generator"] = hparams["random_state"].loader_generator
    brain = CAREPretrainer(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.crop_draws = crop_draws
    if hparams["batch_size"] is None:  # told each epoch's number (else the batches of every epoch are the same)
        brain.train_sampler = train_loader_kwargs["batch_sampler"]
    # the constant predictors the logs compare with (care.pretraining)
    brain.text_mean = text_targets.mean(manifests["train"])
    if all("corpus" in entry for entry in manifests["valid"].values()):  # as the valid set provides it
        brain.corpora = sorted({entry["corpus"] for entry in manifests["valid"].values()})
    valid_set = datasets["valid"]
    if valid_set is None:
        logger.warning("No validation utterances (valid_ratio %s): no validation", hparams["valid_ratio"])
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        valid_set,
        train_loader_kwargs={**train_loader_kwargs, **hparams["train_dataloader_opts"]},
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    exported = "final weights"
    if hparams.get("keep_best_valid", False):
        best = brain.checkpointer.recover_if_possible(min_key="valid_loss")
        if best is not None:
            exported = f"best validation loss {best.meta['valid_loss']:.4g} at step {best.meta['step']}"
    if if_main_process():
        folder = save_encoder(
            brain.modules.encoder,
            hparams["export_folder"],
            info={
                "optimizer_steps": brain.optimizer_step,
                "trained_with": os.path.abspath(hparams_file),
                "overrides": overrides or "",
                "frame_targets": type(frame_targets).__name__,
                "weights": exported,
            },
        )
        logger.info("Exported the encoder (%s) to %s", exported, folder)
    return brain


if __name__ == "__main__":
    with user_errors():  # a user's mistake: one line, no traceback
        brain = main()  # a module-level name, for callers of runpy (tests/test_pretrain.py)
