"""The categorical task of the probing loop (``task: categorical``, the
default): the probe predicts the manifest's ``label`` (cross-entropy,
optionally class-weighted: :class:`Objective`), the epoch (or ``C``) of best
validation weighted F1 is kept, an ensemble averages its members' class
probabilities, the reference is a logistic regression, and ``results.md`` has
the four metrics of :mod:`care.probing.metrics` with a confusion matrix
(``confusion.png``).

The loop itself (folds, seeds, members, selection, refit, checkpoints,
export) is :mod:`care.probing.loop`.

Example
-------
>>> task = CategoricalTask({"reference": None}, {"u1": {"label": "sad"}, "u2": {"label": "angry"}})
>>> task.outputs, task.selection, task.metrics[0]
(['angry', 'sad'], 'weighted_f1', 'weighted_f1')

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import numpy as np
import torch
from speechbrain.dataio.encoder import CategoricalEncoder

from care.lobes.probe import LAYER_WEIGHTS_CAPTION
from care.probing.metrics import (
    METRIC_NAMES,
    METRICS,
    classification_metrics,
    confusion_matrix,
    metrics_from_confusion,
    plot_confusion,
)
from care.processing.normalization import normalization_text


class CategoricalTask:
    """Emotion classes: what the probing loop needs to train, select, score
    and report a classifier of the manifest's labels (see
    :mod:`care.probing.loop` for the meaning of each member).

    Arguments
    ---------
    hparams : dict
        The loaded probe.yaml (``reference``).
    data : dict
        The manifest; its labels, sorted, are the classes.
    """

    name = "categorical"
    selection = "weighted_f1"
    metrics = list(METRICS)
    logged = list(METRICS)
    ensembles = True

    def __init__(self, hparams, data):
        self.hparams, self.data = hparams, data
        self.outputs = sorted({entry["label"] for entry in data.values()})
        self.label_encoder = CategoricalEncoder()
        self.label_encoder.update_from_iterable(self.outputs)
        self.label_encoder.expect_len(len(self.outputs))

    def target(self, utt):
        """What a fold's identity records of ``utt``: its label."""
        return self.data[utt]["label"]

    def objective(self, train, head):
        """The loss and selection score of a probe trained on ``train``; with
        the head's ``balance_classes``, the inverse class frequency of
        ``train`` weights the loss."""
        targets = self.target_tensor(train)
        weight = None
        if head["balance_classes"]:
            counts = torch.bincount(targets, minlength=len(self.outputs)).float()
            weight = counts.sum() / (len(counts) * counts.clamp(min=1))
        return Objective(len(self.outputs), weight)

    def target_tensor(self, ids):
        """The class indices of ``ids``, ``[N]``."""
        return torch.tensor([self.label_encoder.encode_label(self.data[u]["label"]) for u in ids])

    def test(self, objective, outputs, ids):
        """Test metrics and outputs of ``outputs`` ``[members, N, classes]``
        (logits) for ``ids``: an ensemble's class probabilities averaged."""
        probabilities = outputs.float().softmax(dim=-1).mean(dim=0)
        targets = self.target_tensor(ids).tolist()
        predictions = probabilities.argmax(dim=-1).tolist()
        return classification_metrics(targets, predictions, len(self.outputs)), {
            "ids": list(ids), "targets": targets, "predictions": predictions}

    def reference(self, hparams):
        return hparams["reference"]

    def signature(self, head, protocol_info):
        """The checkpoint folder ``run-<hash>``; options at their defaults are
        left out of the hash, so that their folders keep the name they had
        before the options existed."""
        parts = {option: True for option in ("refit", "balance_classes") if head[option]}
        if head["members"] != 1:
            parts["members"] = head["members"]
        if protocol_info and protocol_info["name"] != "speaker_independent":
            parts["protocol"] = [protocol_info["name"], protocol_info.get("files"),
                                 self.hparams["emobox_valid_fraction"], self.hparams["seed"]]
        return "run-", parts

    def opening(self):
        return {}

    def description(self, data):
        return {"labels": self.outputs}

    def pooled(self, seed_runs):
        """The metrics of one seed's predictions over all its test folds."""
        return metrics_from_confusion(self._confusion(seed_runs))

    def extra_results(self, runs):
        return {"confusion_matrix": {"labels": self.outputs, "counts": self._confusion(runs).tolist()}}

    def classifier_info(self, summary):
        return {"cross_validated_weighted_f1": round(summary["mean"]["weighted_f1"], 4),
                "cross_validated_ua": round(summary["mean"]["ua"], 4)}

    def classifier_outputs(self, objective):
        return None  # a classifier's outputs are its labels

    def headline(self, summary):
        return f"weighted F1 {summary['mean']['weighted_f1']:.4f}, UA {summary['mean']['ua']:.4f}"

    def markdown(self, results):
        return results_markdown(results)

    def plot(self, results, folder):
        """``confusion.png``: the confusion matrix of all folds and seeds."""
        plot_confusion(
            np.asarray(results["confusion_matrix"]["counts"]),
            self.outputs,
            os.path.join(folder, "confusion.png"),
            title=f"{results['dataset']} / {results['encoder_name']} (all folds and seeds)",
        )

    def _confusion(self, runs):
        return sum(confusion_matrix(r["outputs"]["targets"], r["outputs"]["predictions"], len(self.outputs))
                   for r in runs)


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
        f"- Feature normalisation: {normalization_text(results)}",
        f"- Machine: {results.get('machine', {}).get('description', '?')}; time: "
        + (", ".join(
            f"{name.replace('_', ' ')} {seconds:.1f} s"
            for name, seconds in results.get("timing_seconds", {}).items() if seconds is not None
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


class Objective:
    """Cross-entropy and weighted F1 for :mod:`care.probing.training`.

    Arguments
    ---------
    num_classes : int
        Classes (the probe's outputs).
    class_weight : torch.Tensor, optional
        ``[classes]`` loss weights (``balance_classes``).

    Example
    -------
    >>> objective = Objective(3)
    >>> outputs = torch.tensor([[[4.0, 0.0, 0.0], [0.0, 4.0, 0.0]], [[0.0, 4.0, 0.0], [0.0, 4.0, 0.0]]])
    >>> objective.loss(outputs, torch.tensor([[0, 1], [0, 1]])).shape
    torch.Size([2])
    >>> objective.scores(outputs, torch.tensor([0, 1]))
    [1.0, 0.3333333333333333]
    """

    def __init__(self, num_classes, class_weight=None):
        self.num_outputs = num_classes
        self.class_weight = class_weight

    def loss(self, outputs, targets, weights=None):
        """Per member, the (class- and ``weights``-) weighted mean
        cross-entropy of ``outputs`` ``[M, B, classes]`` against ``targets``
        ``[M, B]``: ``[M]``."""
        losses = torch.nn.functional.cross_entropy(
            outputs.flatten(0, 1).float(), targets.flatten(), reduction="none").view(targets.shape)
        weight = torch.ones_like(losses) if self.class_weight is None else self.class_weight[targets]
        if weights is not None:
            weight = weight * weights
        return (losses * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=1e-12)

    def scores(self, outputs, targets):
        """Weighted F1 of each member's predictions, ``[M]`` floats."""
        num_classes = self.num_outputs
        predictions = outputs.argmax(dim=-1)
        scores = []
        for member in predictions:
            matrix = torch.bincount(targets * num_classes + member, minlength=num_classes ** 2)
            scores.append(metrics_from_confusion(matrix.view(num_classes, num_classes).numpy())["weighted_f1"])
        return scores
