"""The probe's Brain: trains a probe (``care.lobes.EmotionProbe`` or
``AuthorsProbe``) on cached per-layer features, keeps the epoch with the best
validation weighted F1 through the checkpointer, and scores the test set once
(with that epoch's probe, or with the probe refit on training + validation:
see ``care.probing.loop``).

Only hooks are overridden; optimisation, checkpointing and resumption come
from ``sb.Brain``. Batches carry ``features`` ``[batch, layers, dim]`` and
``label_encoded`` (see :func:`feature_dataset`).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import speechbrain as sb
import torch

from care.probing.metrics import classification_metrics


class ProbeBrain(sb.Brain):
    """Hooks of the probe's training. Expects ``hparams.compute_cost``
    (logits, targets) and, when validating, ``hparams.train_logger``; an
    optional ``hparams.class_weight`` ``[classes]`` weights the training loss
    (``compute_cost(..., weight=...)``).

    After a validation or test stage, ``self.stage_stats`` holds the loss
    and metrics, ``self.stage_outputs`` the ids, targets and predictions, and
    ``self.probabilities`` the class probabilities (a list of batches).
    """

    def compute_forward(self, batch, stage):
        """Probe logits ``[batch, classes]``."""
        batch = batch.to(self.device)
        return self.modules.probe(batch.features.data)

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy (class-weighted in training when ``class_weight`` is
        set); collects predictions outside training."""
        targets = batch.label_encoded.data.view(-1)
        if stage != sb.Stage.TRAIN:
            self.ids += batch.id
            self.targets += targets.tolist()
            self.predictions += predictions.argmax(dim=-1).tolist()
            self.probabilities.append(predictions.detach().float().softmax(dim=-1).cpu())
        weight = getattr(self.hparams, "class_weight", None)
        if stage == sb.Stage.TRAIN and weight is not None:
            return self.hparams.compute_cost(predictions, targets, weight=weight.to(self.device))
        return self.hparams.compute_cost(predictions, targets)

    def on_stage_start(self, stage, epoch=None):
        """Resets the collected predictions."""
        self.ids, self.targets, self.predictions, self.probabilities = [], [], [], []

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Metrics; logging and best-epoch checkpointing on validation."""
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        num_classes = self.modules.probe.config["num_classes"]
        self.stage_stats = {
            "loss": stage_loss,
            **classification_metrics(self.targets, self.predictions, num_classes),
        }
        self.stage_outputs = {
            "ids": self.ids,
            "targets": self.targets,
            "predictions": self.predictions,
        }
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                {"epoch": epoch},
                train_stats={"loss": self.train_loss},
                valid_stats=self.stage_stats,
            )
            # Only an improvement is saved (the earliest best epoch wins ties):
            # a run takes seconds, and writing every epoch would dominate it.
            best = self.checkpointer.find_checkpoint(max_key="weighted_f1")
            if best is None or self.stage_stats["weighted_f1"] > best.meta["weighted_f1"]:
                self.checkpointer.save_and_keep_only(
                    meta={"weighted_f1": self.stage_stats["weighted_f1"], "epoch": epoch},
                    max_keys=["weighted_f1"],
                )


def feature_dataset(ids, features, data, label_encoder):
    """A ``DynamicItemDataset`` over cached features.

    Arguments
    ---------
    ids : list of str
        Utterances to include (a subset of ``data``).
    features : dict
        ``{utt_id: tensor [layers, dim]}``.
    data : dict
        The manifest (for labels).
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Fitted on the corpus's labels.

    Returns
    -------
    DynamicItemDataset
        Output keys ``id``, ``features``, ``label_encoded``.
    """
    dataset = sb.dataio.dataset.DynamicItemDataset(
        {utt: {"label": data[utt]["label"]} for utt in ids}
    )

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("features")
    def feature_pipeline(utt):
        return features[utt]

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_encoded")
    def label_pipeline(label):
        return torch.LongTensor([label_encoder.encode_label(label)])

    sb.dataio.dataset.add_dynamic_item([dataset], feature_pipeline)
    sb.dataio.dataset.add_dynamic_item([dataset], label_pipeline)
    dataset.set_output_keys(["id", "features", "label_encoded"])
    return dataset
