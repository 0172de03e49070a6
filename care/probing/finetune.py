"""Fine-tuning a speech encoder on emotion: the Brain and the data pipeline
that every recipe's ``hparams/finetune.yaml`` shares (the fold loop, results
and export are :mod:`care.probing.finetune_loop`).

Where probing reads the frozen encoder's pooled layers once and trains a
small probe on them, fine-tuning trains the encoder *with* its head, from
waveforms, as SpeechBrain's IEMOCAP wav2vec2 recipe does:

- **the model**: the encoder named by ``encoder_source`` (an exported CARE
  folder, ``random:<architecture>`` or a Hugging Face speech model, built by
  :func:`care.probing.extractors.build_extractor`), every hidden state pooled
  over its valid frames (``pooling``), then ``head``, an
  :class:`care.lobes.EmotionProbe` (by default one linear layer over the
  layers side by side, started from the frozen probe's fit: ``head_init``;
  or a softmax weighting of the layers and a small MLP). This is exactly what
  the exported classifier computes
  (:class:`care.lobes.CAREFeatures` or :class:`care.lobes.HFSpeechFeatures`,
  then the probe), so ``EmotionRecognizer`` loads it unchanged;
- **which parts train** (``train_parts``, :data:`ENCODER_PARTS`): by default
  the shared and acoustic layers; the text-model layers of the semantic branch
  stay frozen (as in pretraining; gradients still flow through them) and so
  does the convolutional front end;
- **two optimisers** (``encoder_opt_class``: a small learning rate;
  ``head_opt_class``: a larger one), each with a linear warm-up and decay
  (``encoder_scheduler``, ``head_scheduler``, called once per optimizer
  step); the encoder is frozen (no gradient computed) for its first
  ``freeze_encoder_steps`` optimizer steps while the head warms up;
- **augmentation** in training (``augment``: SpeechBrain's ``Augmenter``,
  ``wav_augment``), off by default until measured.

Mixed precision (``precision: bf16`` on a GPU), gradient clipping and
accumulation, intra-epoch checkpoints are ``sb.Brain``'s.

Example
-------
>>> from care.lobes import CAREEncoder
>>> encoder = CAREEncoder(d_model=32, num_heads=2, ffn_dim=64, num_shared_layers=1,
...     num_semantic_layers=1, num_acoustic_layers=1, text_dim=16, target_dim=8,
...     semantic_num_heads=2, semantic_ffn_dim=64, conv_channels=16, pos_conv_groups=4)
>>> trained = set_trainable(encoder, ["shared", "acoustic"])
>>> sorted(trained), encoder.feature_extractor.convs[0].weight.requires_grad
(['acoustic', 'shared'], False)
>>> pooled_layers(encoder, torch.randn(2, 16000), torch.tensor([1.0, 0.5]), "mean").shape
torch.Size([2, 4, 32])

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.logger import get_logger

from care.lobes.encoder import CAREEncoder
from care.lobes.frontend import masked_pool
from care.probing.metrics import classification_metrics
from care.processing.audio import load_audio
from care.recipe import InputError

logger = get_logger(__name__)

# What ``train_parts`` may name, and the modules of each: a CARE encoder's
# parts, and the nearest ones of a Hugging Face speech model (no branches: its
# transformer layers count as ``shared``; ``semantic_*`` and ``acoustic`` name
# nothing in it).
ENCODER_PARTS = {
    "frontend": (lambda e: [e.feature_extractor],  # the convolutional front end
                 lambda m: [m.feature_extractor]),
    "input": (lambda e: [e.feature_projection, e.pos_conv, e.encoder_norm],  # up to the first layer
              lambda m: [m.feature_projection, m.encoder.pos_conv_embed, m.encoder.layer_norm]),
    "shared": (lambda e: [e.relative_position, e.shared_layers],
               lambda m: [m.encoder.layers]),
    "semantic_convs": (lambda e: [m for s in e.semantic_layers if s.use_conv for m in (s.down, s.up)],
                       lambda m: []),
    "semantic_layers": (lambda e: [s.layer for s in e.semantic_layers],  # the text model's layers
                        lambda m: []),
    "acoustic": (lambda e: [e.acoustic_layers], lambda m: []),
}


def default_precision():
    """``bf16`` where a GPU is visible, ``fp32`` on CPU (the YAML's ``precision``)."""
    return "bf16" if torch.cuda.is_available() else "fp32"


def trainable_encoder(extractor, detach_acoustic=None):
    """The module of a frozen extractor (:func:`care.probing.extractors.build_extractor`)
    that fine-tuning trains: a :class:`~care.lobes.CAREFeatures`'s CARE encoder, a
    :class:`~care.lobes.HFSpeechFeatures`'s SpeechBrain ``Wav2Vec2`` lobe (told
    to compute gradients). The extractor keeps it: exporting the extractor
    after training exports the trained weights. ``detach_acoustic`` (a CARE
    encoder; None: as it was pretrained): whether the acoustic branch reads a
    detached copy of the shared output, so that the head's gradient reaches
    the shared layers through the semantic branch only (it changes no output)."""
    if hasattr(extractor, "encoder"):
        if detach_acoustic is not None:
            extractor.encoder.detach_acoustic = bool(detach_acoustic)
        return extractor.encoder
    if hasattr(extractor, "ssl"):
        extractor.ssl.freeze = False  # SpeechBrain's lobe: no torch.no_grad in its forward
        # LayerDrop (in training) would skip hidden states the head weights: off
        extractor.ssl.model.config.layerdrop = 0.0
        return extractor.ssl
    raise InputError(f"fine-tuning needs a speech encoder; encoder_source gives {type(extractor).__name__} "
                     "(its features have no weights to train): use probe.yaml")


def set_trainable(encoder, parts):
    """Freezes ``encoder`` but for ``parts`` (names of :data:`ENCODER_PARTS`);
    returns ``{part: trainable parameter count}``."""
    unknown = sorted(set(parts) - set(ENCODER_PARTS))
    if unknown:
        raise InputError(f"train_parts: unknown {unknown}; known: {list(ENCODER_PARTS)}")
    care = isinstance(encoder, CAREEncoder)
    model = encoder if care else encoder.model
    model.requires_grad_(False)
    counts = {}
    for part in parts:
        modules = ENCODER_PARTS[part][0 if care else 1](model)
        for module in modules:
            module.requires_grad_(True)
        counts[part] = sum(p.numel() for m in modules for p in m.parameters())
    return counts


def pooled_layers(encoder, wavs, wav_lens, pooling):
    """Every hidden state of ``encoder`` pooled over its valid frames,
    ``[batch, layers, dim]``: what ``CAREFeatures`` / ``HFSpeechFeatures``
    compute at inference, here with gradients."""
    encoder = getattr(encoder, "module", encoder)  # DDP
    if isinstance(encoder, CAREEncoder):
        out = encoder(wavs, wav_lens, output_hidden_states=True)
        return masked_pool(out.hidden_states, out.lengths, pooling)
    hidden = encoder(wavs, wav_lens)  # [layers, batch, frames, dim]
    samples = torch.round(wav_lens.float() * wavs.shape[1]).long()
    frames = encoder.model._get_feat_extract_output_lengths(samples)
    return masked_pool(hidden, frames.float() / hidden.shape[2], pooling)


def finetune_datasets(data, splits, label_encoder):
    """``DynamicItemDataset`` s of the manifest ``data`` (``wav`` resolved)
    for each ``{name: ids}`` of ``splits``, each item providing ``sig`` (16 kHz
    mono) and ``label_index`` (``[1]``)."""

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return load_audio(wav)

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_index")
    def label_pipeline(label):
        return torch.LongTensor([label_encoder.encode_label(label)])

    datasets = {}
    for name, ids in splits.items():
        dataset = DynamicItemDataset({u: dict(data[u]) for u in sorted(ids)},
                                     dynamic_items=[audio_pipeline, label_pipeline],
                                     output_keys=["id", "sig", "label_index"])
        datasets[name] = dataset
    return datasets


class EmotionFineTuner(sb.Brain):
    """Trains ``modules.encoder`` and ``modules.head`` (see the module
    docstring), keeps the checkpoint of best validation weighted F1 and
    records the test stage's predictions.

    Expected hparams: ``pooling``, ``compute_cost``, ``augment`` and
    ``wav_augment``, ``encoder_opt_class``, ``head_opt_class``,
    ``freeze_encoder_steps``, ``train_logger`` (a logger instance), and the
    fold's ``encoder_scheduler``, ``head_scheduler`` (instances),
    ``num_classes``. Attributes after a test stage: ``test_stats`` (the four
    metrics) and ``test_outputs`` (``ids``, ``targets``, ``predictions``).
    """

    validates = True  # False for a run without a validation set (the export's): a checkpoint per epoch

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            wavs, wav_lens = self.hparams.wav_augment(wavs, wav_lens)
        # While the encoder is frozen (its first steps), no graph is built through it.
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.encoder_trains):
            pooled = pooled_layers(self.modules.encoder, wavs, wav_lens, self.hparams.pooling)
        return self.modules.head(pooled)

    def compute_objectives(self, predictions, batch, stage):
        labels = batch.label_index.data[:, 0]
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            labels = self.hparams.wav_augment.replicate_labels(labels)
        weight = getattr(self.hparams, "class_weights", None)  # balance_classes: the fold's inverse frequencies
        loss = self.hparams.compute_cost(predictions.float(), labels,
                                         **({} if weight is None else {"weight": weight.to(predictions.device)}))
        if stage != sb.Stage.TRAIN:
            self._ids += list(batch.id)
            self._targets += labels.tolist()
            self._predictions += predictions.argmax(dim=-1).tolist()
        return loss

    @property
    def encoder_trains(self):
        """Whether this step updates the encoder: it has trainable parts and
        its first ``freeze_encoder_steps`` optimizer steps are over."""
        return "encoder_optimizer" in (self.optimizers_dict or {}) and (
            self.optimizer_step >= self.hparams.freeze_encoder_steps)

    def init_optimizers(self):
        """Two optimisers, as SpeechBrain's wav2vec2 recipes: the head's, and
        the encoder's over its trainable parameters (none: the encoder stays frozen)."""
        self.head_optimizer = self.hparams.head_opt_class(self.modules.head.parameters())
        self.optimizers_dict = {"head_optimizer": self.head_optimizer}
        trainable = [p for p in self.modules.encoder.parameters() if p.requires_grad]
        if trainable:
            self.encoder_optimizer = self.hparams.encoder_opt_class(trainable)
            self.optimizers_dict["encoder_optimizer"] = self.encoder_optimizer
        if self.checkpointer is not None:
            for name, optimizer in self.optimizers_dict.items():
                self.checkpointer.add_recoverable(name, optimizer)

    def freeze_optimizers(self, optimizers):
        """The head's optimiser only, while the encoder is frozen."""
        if self.encoder_trains:
            return optimizers
        return {k: v for k, v in optimizers.items() if k != "encoder_optimizer"}

    def on_fit_batch_start(self, batch, should_step):
        if not should_step:
            return
        self.hparams.head_scheduler(self.head_optimizer)  # per optimizer step
        if self.encoder_trains:  # its warm-up starts when it starts training
            self.hparams.encoder_scheduler(self.encoder_optimizer)

    def on_stage_start(self, stage, epoch=None):
        self._ids, self._targets, self._predictions = [], [], []

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            if not self.validates:  # no validation (the export's run): a checkpoint per epoch
                self.hparams.train_logger.log_stats({"epoch": epoch, "step": self.optimizer_step},
                                                    train_stats={"loss": stage_loss})
                self.checkpointer.save_and_keep_only(meta={"epoch": epoch}, num_to_keep=1)
            return
        stats = {"loss": stage_loss, **classification_metrics(
            self._targets, self._predictions, self.hparams.num_classes)}
        if stage == sb.Stage.VALID:
            lrs = {f"lr_{k.removesuffix('_optimizer')}": v.param_groups[0]["lr"]
                   for k, v in self.optimizers_dict.items()}
            self.hparams.train_logger.log_stats(
                {"epoch": epoch, "step": self.optimizer_step, **lrs},
                train_stats={"loss": self.train_loss}, valid_stats=stats)
            self.checkpointer.save_and_keep_only(
                meta={"weighted_f1": stats["weighted_f1"], "epoch": epoch}, max_keys=["weighted_f1"], num_to_keep=1)
        else:
            self.hparams.train_logger.log_stats({"epoch loaded": self.hparams.epoch_counter.current},
                                                test_stats=stats)
            self.test_stats = {k: v for k, v in stats.items() if k != "loss"}
            self.test_outputs = {"ids": self._ids, "targets": self._targets, "predictions": self._predictions}
