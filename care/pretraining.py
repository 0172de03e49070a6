"""CARE pretraining: the Brain and the data pipeline shared by every
pretraining configuration (``recipes/Pretrain/train.py`` stays short).

One training step: random crops (``crop_seconds``) of unlabelled speech ->
``CAREEncoder`` -> two regression losses, summed with YAML weights and
back-propagated once (the encoder routes the gradients: the acoustic loss
never reaches the shared layers):

* semantic: MSE between the pooled semantic output and the utterance's text
  embedding (``TextTargets``), over utterances that have a transcript;
* acoustic: MSE between the acoustic head and the frame targets over valid
  frames (on the fly on the training device, or cached crops).

Mixed precision, gradient accumulation, gradient clipping, DDP, intra-epoch
checkpoints and the step budget are SpeechBrain's (``--precision bf16``,
``grad_accumulation_factor``, ``max_grad_norm``, ``torchrun``,
``ckpt_interval_minutes``, ``optimizer_step_limit``).

What the logs say about learning: each loss is reported next to the loss of a
constant predictor on the same frames and utterances, so that "it learns" is
a ratio below 1 rather than a guess. ``acoustic_zero`` is the loss of
predicting 0 (the mean of targets normalised per utterance or crop),
``semantic_mean`` the loss of predicting the training set's mean text
embedding (``CAREPretrainer.text_mean``); ``acoustic_vs_zero`` and
``semantic_vs_mean`` are the ratios. Validation reports them per corpus too
(``<name>@<corpus>``), weighted by frames and utterances, so that a corpus of
many short clips cannot hide progress on the others.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
import random
import time

import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from care.lobes.export import save_encoder
from care.lobes.frontend import length_mask
from care.processing.audio import SAMPLE_RATE, load_audio

logger = get_logger(__name__)


class CAREPretrainer(sb.Brain):
    """Trains a ``CAREEncoder`` (``modules.encoder``) on the two CARE losses.

    Expected hparams: ``frame_targets`` (``on_the_fly`` and, if on the fly,
    called as ``frame_targets(wavs, wav_lens)``, with ``stats=`` the batch's
    ``frame_target_stats`` when it ``needs_utterance_stats``),
    ``semantic_weight``, ``acoustic_weight``, ``lr_scheduler`` (called once
    per optimizer step; absent or None: constant lr, as the authors' code),
    ``log_interval`` (optimizer steps), ``train_logger``,
    ``tensorboard_logger`` (or None), ``checkpointer``, ``epoch_counter``;
    optional ``keep_best_valid`` (also checkpoint after every validation,
    with its loss as ``valid_loss``, the lowest kept: what the authors' code
    keeps); optional ``export_steps`` (optimizer steps at which the encoder
    is also exported to ``<export_folder>_step<N>``, for learning curves; 0
    is the initialisation) with ``export_folder``.

    Attributes set by the caller: ``text_mean`` (``[text_dim]``, the mean text
    embedding of the training utterances, for the ``semantic_mean``
    baseline; None: not reported) and ``corpora`` (the corpus names of the
    validation manifest, for per-corpus validation losses) and
    ``crop_draws`` (the ``CropDraws`` of the training set, told each epoch's
    number; None: crops keep epoch 0's draws).

    ``max_grad_norm`` of 0 or less turns gradient clipping off (SpeechBrain
    would clip every gradient to zero and train nothing).
    """

    text_mean = None
    corpora = ()
    crop_draws = None

    def on_fit_start(self):
        if self.max_grad_norm is None or not self.max_grad_norm > 0:
            logger.info("max_grad_norm %s: gradient clipping off", self.max_grad_norm)
            self.max_grad_norm = float("inf")
        super().on_fit_start()
        if self.optimizer_step == 0:
            self._export_if_due()

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        return self.modules.encoder(wavs, wav_lens, output_hidden_states=False)

    def compute_objectives(self, predictions, batch, stage):
        wavs, wav_lens = batch.sig
        frame_targets = self.hparams.frame_targets
        if frame_targets.on_the_fly:
            # Full precision and no graph: targets are data, not a model output.
            stats = {}
            if getattr(frame_targets, "needs_utterance_stats", False):
                stats = {"stats": batch.frame_target_stats.data}
            with torch.no_grad(), torch.autocast(self.device_type, enabled=False):
                targets, _ = frame_targets(wavs.float(), wav_lens, **stats)
        else:
            targets = batch.frame_targets.data
        acoustic = predictions.acoustic.float()
        if targets.shape != acoustic.shape:
            raise ValueError(
                f"frame targets {tuple(targets.shape)} do not match the acoustic "
                f"head {tuple(acoustic.shape)}: set target_dim to the extractor's dim "
                f"and keep crops on the encoder's frame boundaries (a multiple of its hop)"
            )
        # predictions.lengths are relative (SpeechBrain's convention); the mask needs frames
        frames = acoustic.shape[1]
        mask = length_mask(torch.round(predictions.lengths * frames).long(), frames).unsqueeze(-1)
        valid_values = mask.sum() * acoustic.shape[-1]
        acoustic_loss = ((acoustic - targets) ** 2 * mask).sum() / valid_values.clamp(min=1)

        text, has_text = batch.text_target.data, batch.has_text.data[:, 0]
        per_utterance = ((predictions.semantic.float() - text) ** 2).mean(dim=-1)
        semantic_loss = (per_utterance * has_text).sum() / has_text.sum().clamp(min=1)

        loss = (
            self.hparams.semantic_weight * semantic_loss
            + self.hparams.acoustic_weight * acoustic_loss
        )
        with torch.no_grad():  # sums for the logs: ours and the constant predictors'
            values = mask.sum(dim=(1, 2)) * acoustic.shape[-1]  # [batch]
            sums = torch.stack(
                [
                    ((acoustic - targets) ** 2 * mask).sum(dim=(1, 2)),
                    (targets**2 * mask).sum(dim=(1, 2)),
                    values,
                    per_utterance * has_text,
                    self._mean_embedding_loss(text) * has_text,
                    has_text,
                    wav_lens * wavs.shape[1] / SAMPLE_RATE,
                ],
                dim=1,
            )  # [batch, len(SUMS)]
            corpus_index = self._corpus_index(batch, stage, len(sums))
            self._accumulate(stage, sums, corpus_index)
        return loss

    def _mean_embedding_loss(self, text):
        """Per utterance: MSE of the mean training embedding (0 when unknown)."""
        if self.text_mean is None:
            return torch.zeros(len(text), device=text.device)
        return ((self.text_mean.to(text.device) - text) ** 2).mean(dim=-1)

    def _corpus_index(self, batch, stage, size):
        """``[batch]`` row of each utterance's corpus in the validation sums
        (0 in training, where only totals are kept)."""
        if stage == sb.Stage.TRAIN or not self.corpora:
            return torch.zeros(size, dtype=torch.long, device=self.device)
        rows = {name: index for index, name in enumerate(self.corpora)}
        return torch.tensor([rows[name] for name in batch.corpus], device=self.device)

    def on_stage_start(self, stage, epoch=None):
        self._sums = {}
        if stage == sb.Stage.TRAIN and self.crop_draws is not None:
            self.crop_draws.epoch = epoch  # before the epoch's loader copies it to its workers
        self._last_log = time.perf_counter()

    def on_fit_batch_start(self, batch, should_step):
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        if should_step and scheduler is not None:  # per optimizer step; None: constant lr
            scheduler(self.optimizer)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        if not should_step:
            return
        self._export_if_due()
        if self.optimizer_step % self.hparams.log_interval:
            return
        stats = self._stats("interval")
        now = time.perf_counter()
        # all ranks' audio over this rank's wall time since the last log line
        stats["audio_s_per_s"] = stats.pop("audio_seconds") / (now - self._last_log)
        self._last_log = now
        stats["lr"] = self.optimizer.param_groups[0]["lr"]
        self._log(stats_meta={"step": self.optimizer_step}, train_stats=stats)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        stats = self._stats(stage, per_corpus=stage != sb.Stage.TRAIN)
        stats.pop("audio_seconds", None)
        stats["loss"] = stage_loss
        if stage == sb.Stage.TRAIN:
            self._log(stats_meta={"epoch": epoch, "step": self.optimizer_step}, train_stats=stats)
            # End of an epoch (or of the step budget): a checkpoint to resume from.
            self.checkpointer.save_and_keep_only(
                meta={"train_loss": stage_loss, "step": self.optimizer_step},
                num_to_keep=self.hparams.checkpoints_to_keep,
                min_keys=["valid_loss"],  # the best-validation one stays (keep_best_valid)
            )
        elif stage == sb.Stage.VALID:
            self._log(stats_meta={"epoch": epoch, "step": self.optimizer_step}, valid_stats=stats)
            if getattr(self.hparams, "keep_best_valid", False):
                self.checkpointer.save_and_keep_only(
                    meta={"valid_loss": stage_loss, "step": self.optimizer_step},
                    num_to_keep=self.hparams.checkpoints_to_keep,
                    min_keys=["valid_loss"],
                )

    def _export_if_due(self):
        """Exports the encoder at the optimizer steps listed in ``export_steps``."""
        steps = getattr(self.hparams, "export_steps", None) or ()
        if self.optimizer_step not in steps or not if_main_process():
            return
        folder = f"{self.hparams.export_folder}_step{self.optimizer_step}"
        if not os.path.exists(os.path.join(folder, "encoder.ckpt")):  # done before a resume
            save_encoder(self.modules.encoder, folder, info={"optimizer_steps": self.optimizer_step})
            logger.info("Exported the encoder at step %d to %s", self.optimizer_step, folder)

    def _log(self, stats_meta, train_stats=None, valid_stats=None):
        """To train_log.txt and TensorBoard. Called on every process: SpeechBrain's
        loggers are ``main_process_only`` functions, which broadcast their result
        (a collective every rank must join)."""
        rounded = {
            key: {k: _round(v) for k, v in stats.items()}
            for key, stats in (("train_stats", train_stats), ("valid_stats", valid_stats))
            if stats is not None
        }
        self.hparams.train_logger.log_stats(stats_meta=stats_meta, **rounded)
        board = getattr(self.hparams, "tensorboard_logger", None)
        if board is not None and if_main_process():
            prefix, stats = ("train", train_stats) if train_stats is not None else ("valid", valid_stats)
            for key, value in stats.items():
                board.writer.add_scalar(f"{prefix}/{key}", value, self.optimizer_step)
            board.writer.flush()

    def _accumulate(self, stage, sums, corpus_index):
        """Adds a batch's per-utterance sums (``[batch, len(SUMS)]``) to the
        stage's totals (per corpus in evaluation) and, in training, to the log
        interval's."""
        rows = max(len(self.corpora), 1) if stage != sb.Stage.TRAIN else 1
        groups = [stage, "interval"] if stage == sb.Stage.TRAIN else [stage]
        for group in groups:
            totals = self._sums.setdefault(group, torch.zeros(rows, len(SUMS), device=sums.device))
            totals.index_add_(0, corpus_index, sums.float())

    def _stats(self, group, per_corpus=False):
        """Losses since the group's last reset (summed over DDP ranks), with
        the constant predictors' and the ratios; resets it. One host sync."""
        totals = self._sums.pop(group, None)
        if totals is None:
            return {}
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(totals)
        rows = totals.tolist()
        stats = _loss_stats([sum(column) for column in zip(*rows)])
        if per_corpus and len(self.corpora) > 1:
            for name, row in zip(self.corpora, rows):
                for key, value in _loss_stats(row).items():
                    if key != "audio_seconds":
                        stats[f"{key}@{name}"] = value
        return stats


# Per-utterance sums kept for the logs (columns of CAREPretrainer._accumulate).
SUMS = ("acoustic", "acoustic_zero", "acoustic_values", "semantic", "semantic_mean", "with_text", "audio_seconds")


def _loss_stats(row):
    """Mean losses, constant-predictor losses and their ratios from one row of sums."""
    sums = dict(zip(SUMS, row))
    stats = {"audio_seconds": sums["audio_seconds"]}
    if sums["acoustic_values"]:
        stats["acoustic"] = sums["acoustic"] / sums["acoustic_values"]
        stats["acoustic_zero"] = sums["acoustic_zero"] / sums["acoustic_values"]
        if sums["acoustic_zero"]:
            stats["acoustic_vs_zero"] = sums["acoustic"] / sums["acoustic_zero"]
    if sums["with_text"]:
        stats["semantic"] = sums["semantic"] / sums["with_text"]
        if sums["semantic_mean"]:
            stats["semantic_mean"] = sums["semantic_mean"] / sums["with_text"]
            stats["semantic_vs_mean"] = sums["semantic"] / sums["semantic_mean"]
    return stats


class CropDraws:
    """Where each training crop starts, drawn from (seed, epoch, utterance)
    rather than from a running random generator.

    A running generator makes the crops depend on where the draws happen: in
    loader workers, which are seeded afresh when a resumed run restarts its
    loader, the crops after a resume differed from those of the run that was
    never interrupted (and a run with 0 workers differed from one with 1).
    Drawn from their own seed, the crops of an epoch are the same whatever
    the workers and however often the run was interrupted. The loader's
    workers copy this object when an epoch starts: set ``epoch`` before
    (``CAREPretrainer`` does, in ``on_stage_start``), and do not keep workers
    across epochs (``persistent_workers``).

    Arguments
    ---------
    seed : int
        The run's seed.

    Example
    -------
    >>> draws = CropDraws(seed=1986)
    >>> first = draws.start("utt1", 100)
    >>> first == CropDraws(seed=1986).start("utt1", 100)
    True
    >>> draws.epoch = 1
    >>> [draws.start("utt1", 100), draws.start("utt1", 100)] == [draws.start("utt1", 100)] * 2
    True
    """

    def __init__(self, seed):
        self.seed = seed
        self.epoch = 0

    def start(self, utt_id, choices):
        """One of ``range(choices)`` for ``utt_id`` in the current epoch."""
        return random.Random(f"{self.seed}/{self.epoch}/{utt_id}").randrange(choices)


def pretraining_datasets(hparams, text_targets, crop_draws=None):
    """Train and valid ``DynamicItemDataset`` s over the prepared manifests.

    Each item provides ``sig`` (a crop of at most ``crop_seconds``, starting
    on a frame boundary: random in training, the start in validation),
    ``text_target`` and ``has_text`` (zeros and 0 when the utterance has no
    transcript), for cached frame-target backends ``frame_targets``,
    ``frame_target_stats`` when the backend ``needs_utterance_stats`` and, in
    validation, ``corpus`` (when the manifest names it).

    Arguments
    ---------
    hparams : dict
        Needs ``train_manifest``, ``valid_manifest``, ``data_folder``,
        ``crop_seconds``, ``pad_to_crop``, ``frame_targets``, ``encoder``;
        optional ``require_text`` (drop utterances without a transcript, as
        the authors' code does; default False: they train the acoustic
        branch only).
    text_targets : care.processing.TextTargets
        Text embeddings by utterance id.
    crop_draws : CropDraws, optional
        Where training crops start (default: ``CropDraws(hparams["seed"])``,
        epoch 0; give the one the Brain tells the epochs to).

    Returns
    -------
    dict
        ``{"train": dataset, "valid": dataset or None}`` (None: the valid
        manifest is empty).
    """
    crop = int(round(hparams["crop_seconds"] * SAMPLE_RATE))
    pad_to_crop = hparams.get("pad_to_crop", False)
    grid = hparams["encoder"].grid  # crops start on its frame boundaries
    crop_frames = int(grid.num_frames(crop))
    frame_targets = hparams["frame_targets"]
    if getattr(frame_targets, "grid", grid) != grid:
        raise ValueError(
            f"frame_targets are on {frame_targets.grid}, the encoder on {grid}: give the "
            "targets the encoder's conv_kernel_sizes and conv_strides"
        )
    empty_text = torch.zeros(text_targets.dim)
    if crop_draws is None:
        crop_draws = CropDraws(hparams.get("seed", 0))

    datasets = {}
    for split in ("train", "valid"):
        with open(hparams[f"{split}_manifest"], encoding="utf-8") as fin:
            if not json.load(fin):
                if split == "train":
                    raise ValueError(f"{hparams['train_manifest']} lists no utterances")
                datasets[split] = None
                continue
        dataset = DynamicItemDataset.from_json(
            hparams[f"{split}_manifest"], replacements={"data_root": hparams["data_folder"]}
        )
        random_crop = split == "train"

        @sb.utils.data_pipeline.takes("id", "wav")
        @sb.utils.data_pipeline.provides("sig", "frame_targets")
        def audio_pipeline(utt_id, wav, random_crop=random_crop):
            audio = load_audio(wav)
            start = 0
            if len(audio) > crop:
                start = crop_draws.start(utt_id, (len(audio) - crop) // grid.hop + 1) * grid.hop if random_crop else 0
                audio = audio[start : start + crop]
            valid = len(audio)
            if pad_to_crop and valid < crop:  # fixed shapes; the relative length masks it
                audio = torch.nn.functional.pad(audio, (0, crop - valid))
            yield audio
            if not frame_targets.on_the_fly:
                targets = frame_targets.crop(utt_id, wav, start, valid)
                if pad_to_crop:
                    targets = torch.nn.functional.pad(targets, (0, 0, 0, crop_frames - len(targets)))
                yield targets

        @sb.utils.data_pipeline.takes("id")
        @sb.utils.data_pipeline.provides("text_target", "has_text")
        def text_pipeline(utt_id):
            embedding = text_targets.get(utt_id)
            yield empty_text if embedding is None else embedding.float()
            yield torch.tensor([float(embedding is not None)])  # [1]: batched to [B, 1]

        dataset.add_dynamic_item(audio_pipeline)
        dataset.add_dynamic_item(text_pipeline)
        keys = ["id", "sig", "text_target", "has_text"]
        if split == "valid" and all("corpus" in entry for entry in dataset.data.values()):
            keys.append("corpus")  # per-corpus validation losses
        if not frame_targets.on_the_fly:
            keys.append("frame_targets")
        if getattr(frame_targets, "needs_utterance_stats", False):
            dataset.add_dynamic_item(
                frame_targets.utterance_stats, takes=["id", "wav"], provides="frame_target_stats"
            )
            keys.append("frame_target_stats")
        dataset.set_output_keys(keys)
        if hparams.get("require_text", False):
            dataset = _with_text(dataset, text_targets, hparams[f"{split}_manifest"])
        datasets[split] = dataset if len(dataset) else None
    if datasets["train"] is None:
        raise ValueError(
            f"{hparams['train_manifest']}: no utterance has a transcript (require_text)"
        )
    return datasets


def _with_text(dataset, text_targets, manifest):
    """The utterances of ``dataset`` that have a transcript (count logged)."""
    total = len(dataset)

    def has_text(utt_id):
        return text_targets.get(utt_id) is not None

    dataset = dataset.filtered_sorted(key_test={"id": has_text})
    logger.info(
        "%s: %d of %d utterances have no transcript and are left out (require_text)",
        manifest, total - len(dataset), total,
    )
    return dataset


def crop_length(crop_seconds):
    """``length_func`` for ``DynamicBatchSampler``: an item's cost is its
    duration after cropping (seconds)."""

    def length(item):
        return min(item["duration"], crop_seconds)

    return length


def _round(value):
    return float(f"{value:.4g}") if isinstance(value, float) else value
