"""Dimensional emotion probing: regression of arousal, valence and dominance
(or any subset present in the manifest) from the same frozen per-layer
features and layer weighting as the categorical probe (``task: dimensional``
in a recipe's ``probe.yaml``). This module is the task
(:class:`DimensionalTask`) that the probing loop (:mod:`care.probing.loop`)
trains, selects, scores and reports; the loop is the categorical task's too.

- Head: the probe of ``probe_head`` (``EmotionProbe`` or ``AuthorsProbe``)
  with one output per attribute. Targets are standardised with the training
  set's mean and standard deviation; predictions are mapped back to the
  corpus's scale (MSP-Podcast 1-7, IEMOCAP 1-5) before any metric.
- Loss (``dimensional_loss``, :class:`Objective`): ``ccc`` (1 - the mean
  over attributes of the batch's concordance correlation coefficient) or
  ``mse`` (on standardised targets).
- Metrics per attribute: CCC (the headline, as in the MSP-Podcast
  challenge), Pearson's r and the mean absolute error (on the corpus's
  scale), and their means over attributes (``ccc_mean`` ...).
- Model selection: the epoch (or, for a full-batch linear head, ``C``) of
  best validation ``ccc_mean`` and nothing else; with ``refit`` a fresh probe then trains on training + validation for
  that many epochs and is tested, as in the categorical task.
- A ridge-regression reference (:func:`ridge_regression`) is scored on the
  same features and folds, like the categorical logistic regression.

The concordance correlation coefficient of targets ``y`` and predictions
``x`` (Lin, 1989) is ``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)``
with population (biased) moments.

Example
-------
>>> round(ccc([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 3.5, 4.0]), 4)
0.9474
>>> m = regression_metrics([[1.0, 5.0], [2.0, 4.0], [3.0, 1.0]],
...                        [[1.0, 4.0], [2.0, 4.0], [3.0, 2.0]], ["arousal", "valence"])
>>> {k: round(v, 3) for k, v in m.items() if k.startswith("ccc")}
{'ccc_mean': 0.912, 'ccc_arousal': 1.0, 'ccc_valence': 0.824}

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os

import numpy as np
import torch
from speechbrain.utils.logger import get_logger

from care.lobes.probe import LAYER_WEIGHTS_CAPTION, standard_scale
from care.probing.reference import stacked_inputs
from care.processing.checks import check_attribute_names, check_attribute_values
from care.processing.manifest import PREPARE_FILE
from care.processing.normalization import normalization_text
from care.recipe import InputError

logger = get_logger(__name__)

TASKS = ("categorical", "dimensional")
ATTRIBUTES = ("arousal", "valence", "dominance")
LOSSES = ("ccc", "mse")
STATISTICS = ("ccc", "pearson", "mae")
STATISTIC_NAMES = {"ccc": "CCC", "pearson": "Pearson r", "mae": "MAE"}


def check_task(task):
    """Raises ``ValueError`` unless ``task`` is one of :data:`TASKS`."""
    if task not in TASKS:
        raise InputError(f"task: {task!r}; expected one of {', '.join(TASKS)}")


def metric_names(attributes):
    """Result keys, headline first: ``ccc_mean``, ``ccc_<attribute>`` ...,
    then Pearson and MAE likewise.

    Example
    -------
    >>> metric_names(["arousal"])
    ['ccc_mean', 'ccc_arousal', 'pearson_mean', 'pearson_arousal', 'mae_mean', 'mae_arousal']
    """
    return [f"{s}_{a}" for s in STATISTICS for a in ["mean"] + list(attributes)]


def ccc(targets, predictions):
    """Lin's concordance correlation coefficient of two 1-D sequences
    (population moments); 0 when both are constant."""
    y = np.asarray(targets, dtype=np.float64)
    x = np.asarray(predictions, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError(f"need two non-empty 1-D sequences of one length, got {x.shape}, {y.shape}")
    covariance = ((x - x.mean()) * (y - y.mean())).mean()
    denominator = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 0.0


def pearson(targets, predictions):
    """Pearson's correlation of two 1-D sequences; 0 when either is constant."""
    y = np.asarray(targets, dtype=np.float64)
    x = np.asarray(predictions, dtype=np.float64)
    spread = x.std() * y.std()
    return float(((x - x.mean()) * (y - y.mean())).mean() / spread) if spread > 0 else 0.0


def regression_metrics(targets, predictions, attributes):
    """CCC, Pearson's r and MAE per attribute and their means.

    Arguments
    ---------
    targets, predictions : array-like
        ``[utterances, attributes]``, on the corpus's scale.
    attributes : list of str
        The columns' names.

    Returns
    -------
    dict
        ``{name: float}`` for every name of :func:`metric_names`.
    """
    y = np.asarray(targets, dtype=np.float64).reshape(-1, len(attributes))
    x = np.asarray(predictions, dtype=np.float64).reshape(-1, len(attributes))
    out = {}
    for k, attribute in enumerate(attributes):
        out[f"ccc_{attribute}"] = ccc(y[:, k], x[:, k])
        out[f"pearson_{attribute}"] = pearson(y[:, k], x[:, k])
        out[f"mae_{attribute}"] = float(np.abs(x[:, k] - y[:, k]).mean())
    for statistic in STATISTICS:
        out[f"{statistic}_mean"] = float(np.mean([out[f"{statistic}_{a}"] for a in attributes]))
    return {name: out[name] for name in metric_names(attributes)}


def manifest_attributes(data, requested=None):
    """The attributes the probe predicts: ``requested`` (a list, each checked
    to be a number in every utterance), or, when None, every one of
    :data:`ATTRIBUTES` that all utterances have. Raises ``ValueError`` naming
    utterances that lack one, or when none is present; and (before any
    training) for an attribute named twice, named as a manifest field, or
    with one value everywhere (``care.processing.checks``).

    Example
    -------
    >>> manifest_attributes({"u": {"arousal": 3.0, "valence": 2.5}, "v": {"arousal": 2.0, "valence": 1.5}})
    ['arousal', 'valence']
    """
    if requested is None:
        found = [a for a in ATTRIBUTES if all(_number(e.get(a)) for e in data.values())]
        if not found:
            raise InputError(
                "task: dimensional needs numeric attributes in the manifest "
                f"({', '.join(ATTRIBUTES)}); no attribute is present in every utterance"
            )
        check_attribute_values(data, found, "the manifest")
        return found
    attributes = check_attribute_names(requested, "attributes")
    for attribute in attributes:
        lacking = sorted(u for u, e in data.items() if not _number(e.get(attribute)))
        if lacking:
            raise InputError(
                f"attribute {attribute!r}: {len(lacking)} of {len(data)} utterances lack a "
                f"numeric value, e.g. {lacking[:3]}"
            )
    check_attribute_values(data, attributes, "the manifest")
    return attributes


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


class Objective:
    """The dimensional task's loss and selection score for
    :mod:`care.probing.training`: the probe predicts attributes standardised
    with the training set's ``target_mean`` and ``target_std``; the loss
    (``ccc`` or ``mse``) is on that scale, the score (mean CCC) on the
    corpus's.

    Example
    -------
    >>> objective = Objective("mse", torch.tensor([3.0]), torch.tensor([2.0]), ["arousal"])
    >>> outputs = torch.tensor([[[0.0], [1.0]]])  # one member, two utterances
    >>> objective.loss(outputs, torch.tensor([[[3.0], [5.0]]])).tolist()
    [0.0]
    >>> objective.predictions(outputs[0]).view(-1).tolist()
    [3.0, 5.0]
    """

    def __init__(self, loss, target_mean, target_std, attributes):
        self.kind, self.attributes = loss, list(attributes)
        self.target_mean, self.target_std = target_mean, target_std
        self.num_outputs = len(self.attributes)

    def predictions(self, outputs):
        """Standardised outputs ``[..., attributes]`` on the corpus's scale."""
        return outputs.float() * self.target_std + self.target_mean

    def loss(self, outputs, targets, weights=None):
        """Per member ``[M]``: the loss of ``outputs`` ``[M, B, attributes]``
        against ``targets`` (corpus scale), each utterance weighted by
        ``weights`` ``[M, B]`` (default 1)."""
        x = outputs.float()
        y = (targets.float() - self.target_mean) / self.target_std
        w = torch.ones(x.shape[:2]) if weights is None else weights.float()
        w = (w / w.sum(dim=1, keepdim=True).clamp(min=1e-12))[..., None]
        if self.kind == "mse":
            return ((x - y).pow(2) * w).sum(dim=1).mean(dim=-1)
        x_mean, y_mean = (x * w).sum(dim=1, keepdim=True), (y * w).sum(dim=1, keepdim=True)
        covariance = ((x - x_mean) * (y - y_mean) * w).sum(dim=1)
        denominator = (((x - x_mean).pow(2) + (y - y_mean).pow(2)) * w).sum(dim=1) + (x_mean - y_mean).pow(2)[:, 0]
        return 1 - (2 * covariance / denominator.clamp(min=1e-8)).mean(dim=-1)

    def scores(self, outputs, targets):
        """Mean CCC over attributes (corpus scale) of each member, ``[M]`` floats."""
        return [regression_metrics(targets.tolist(), self.predictions(member).tolist(), self.attributes)["ccc_mean"]
                for member in outputs]


def attribute_targets(data, attributes):
    """``{utt_id: tensor [attributes]}`` from the manifest."""
    return {u: torch.tensor([float(e[a]) for a in attributes]) for u, e in data.items()}


def ridge_regression(features, data, splits, attributes, layers=None, alpha=1.0):
    """The reference of a dimensional run: scikit-learn's ``Ridge`` on
    standardised features (chosen layers side by side), trained on all
    non-test utterances of a fold, scored once on its test fold.

    Returns
    -------
    list of dict
        One per fold, ``{"seed": 0, "fold", "test": metrics, "sizes"}``.
    """
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    def inputs(ids):
        return stacked_inputs(features, ids, layers)

    def targets(ids):
        return np.array([[float(data[u][a]) for a in attributes] for u in ids])

    runs = []
    for fold, train, valid, test in splits:
        fit_ids, test_ids = sorted(train) + sorted(valid), sorted(test)
        scaler = StandardScaler().fit(inputs(fit_ids))
        model = Ridge(alpha=alpha).fit(scaler.transform(inputs(fit_ids)), targets(fit_ids))
        predictions = model.predict(scaler.transform(inputs(test_ids)))
        runs.append({
            "seed": 0,
            "fold": fold,
            "sizes": {"train": len(fit_ids), "test": len(test_ids)},
            "test": regression_metrics(targets(test_ids), predictions, attributes),
        })
    return runs


class DimensionalTask:
    """Attribute values: what the probing loop needs to train, select, score
    and report a regression of the manifest's attributes (see
    :mod:`care.probing.loop` for the meaning of each member).

    Arguments
    ---------
    hparams : dict
        The loaded probe.yaml: ``prepare_folder`` (its ``prepare.json`` must
        say ``task: dimensional``), and optionally ``attributes`` (default:
        every one of :data:`ATTRIBUTES` that all utterances have),
        ``dimensional_loss`` (``ccc``) and ``dimensional_reference``.
    data : dict
        The manifest.

    Raises
    ------
    ValueError
        The corpus was prepared for another task, the loss is unknown, or an
        attribute is missing (:func:`manifest_attributes`).
    """

    name = "dimensional"
    selection = "ccc_mean"
    ensembles = False

    def __init__(self, hparams, data):
        # The manifest must be the dimensional one (every utterance with
        # attributes), not a categorical subset that happens to carry them.
        record_path = os.path.join(hparams["prepare_folder"], PREPARE_FILE)
        with open(record_path, encoding="utf-8") as handle:
            prepared_for = json.load(handle).get("options", {}).get("task", "categorical")
        if prepared_for != self.name:
            raise InputError(
                f"{record_path}: the corpus was prepared for task {prepared_for}; prepare it with "
                f"task: {self.name} in prepare_options (a --prepare_options override replaces the "
                "whole mapping: include it there)"
            )
        self.loss = hparams.get("dimensional_loss", "ccc")
        if self.loss not in LOSSES:
            raise InputError(f"dimensional_loss: {self.loss!r}; expected one of {', '.join(LOSSES)}")
        self.hparams = hparams
        self.outputs = manifest_attributes(data, hparams.get("attributes"))
        self.targets = attribute_targets(data, self.outputs)
        self.metrics = metric_names(self.outputs)
        self.logged = [f"ccc_{a}" for a in self.outputs]

    def target(self, utt):
        """What a fold's identity records of ``utt``: its attribute values."""
        return self.targets[utt].tolist()

    def target_tensor(self, ids):
        """The attribute values of ``ids``, ``[N, attributes]``."""
        return torch.stack([self.targets[u] for u in ids])

    def objective(self, train, head):
        """The loss on attributes standardised with the scale of ``train``."""
        target_mean, target_std = standard_scale(self.target_tensor(train))
        return Objective(self.loss, target_mean, target_std, self.outputs)

    def test(self, objective, outputs, ids):
        """Test metrics and outputs (corpus scale) of ``outputs`` ``[1, N, attributes]``."""
        targets = self.target_tensor(ids).tolist()
        predictions = objective.predictions(outputs[0]).tolist()
        return regression_metrics(targets, predictions, self.outputs), {
            "ids": list(ids), "targets": targets, "predictions": predictions}

    def reference(self, hparams):
        return hparams.get("dimensional_reference")

    def signature(self, head, protocol_info):
        """The checkpoint folder ``dim-<hash>``."""
        return "dim-", {
            "task": self.name,
            "attributes": self.outputs,
            "loss": self.loss,
            "refit": bool(head["refit"]),
            "protocol": [protocol_info["name"], protocol_info.get("files"),
                         self.hparams.get("emobox_valid_fraction"), self.hparams.get("seed")],
        }

    def opening(self):
        return {"task": self.name}

    def description(self, data):
        return {
            "attributes": self.outputs,
            "attribute_range": {a: [min(float(e[a]) for e in data.values()),
                                    max(float(e[a]) for e in data.values())] for a in self.outputs},
            "loss": self.loss,
            "selection": f"validation {self.selection}",
        }

    def pooled(self, seed_runs):
        """The metrics of one seed's predictions over all its test folds."""
        return regression_metrics([t for r in seed_runs for t in r["outputs"]["targets"]],
                                  [p for r in seed_runs for p in r["outputs"]["predictions"]],
                                  self.outputs)

    def extra_results(self, runs):
        """``constant_in_test_fold``: the folds where an attribute's test
        values are all equal, so its CCC there is 0 by definition (no spread
        to agree with) and counts as such in the means; named, never silent."""
        constant = {}
        for run in runs:
            targets = np.asarray(run["outputs"]["targets"], dtype=np.float64).reshape(-1, len(self.outputs))
            for k, attribute in enumerate(self.outputs):
                if np.ptp(targets[:, k]) == 0 and run["fold"] not in constant.get(attribute, []):
                    constant.setdefault(attribute, []).append(run["fold"])
        for attribute, folds in constant.items():
            logger.warning(f"{attribute} is constant within test fold(s) {folds}: CCC is 0 there by "
                           "definition and counts in the means")
        return {"constant_in_test_fold": constant} if constant else {}

    def classifier_info(self, summary):
        return {"cross_validated_ccc_mean": round(summary["mean"]["ccc_mean"], 4)}

    def classifier_outputs(self, objective):
        """What the exported classifier's ``hyperparams.yaml`` says about its
        outputs: standardised attributes, with the scale to undo it."""
        return {
            "task": self.name,
            "attributes": list(self.outputs),
            "attribute_mean": [round(float(v), 6) for v in objective.target_mean],
            "attribute_std": [round(float(v), 6) for v in objective.target_std],
        }

    def headline(self, summary):
        return f"mean CCC {summary['mean']['ccc_mean']:.4f}"

    def markdown(self, results):
        return results_markdown(results)

    def plot(self, results, folder):
        pass  # no figure


def results_markdown(results):
    """``results.md`` of a dimensional run."""
    summary, attributes = results["metrics"], results["attributes"]
    columns = ["mean"] + list(attributes)
    lines = [
        f"# {results['dataset']}: dimensional emotion probe on `{results['encoder_source']}`",
        "",
        f"- Protocol: {results['protocol']}",
        "- Speaker-independent: "
        + ("yes" if results.get("speaker_independent", True) else "**no** (test speakers also in training)"),
        f"- {results['utterances']} utterances; attributes {', '.join(attributes)} (range "
        + ", ".join(f"{a} {lo:g}-{hi:g}" for a, (lo, hi) in results["attribute_range"].items())
        + f"); loss {results['loss']}; epoch selected on validation mean CCC; layers: "
        f"{results['layers']}; pooling: {results.get('pooling', 'mean')}; "
        f"probe head: {results.get('probe_head', 'probe')}; seeds "
        f"{results['seeds']}; {len(results['folds'])} test folds",
        f"- Feature normalisation: {normalization_text(results)}",
        f"- Machine: {results.get('machine', {}).get('description', '?')}; time: "
        + (", ".join(f"{name.replace('_', ' ')} {seconds:.1f} s"
                     for name, seconds in results.get("timing_seconds", {}).items()
                     if seconds is not None) or "?"),
        "",
        "Mean over test folds (± std over folds; std over seeds in brackets); pooled: all test "
        "predictions of a seed together, mean over seeds. MAE on the corpus's scale.",
        "",
        "| statistic | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for statistic in STATISTICS:
        cells = [f"{summary['mean'][f'{statistic}_{c}']:.3f} ± {summary['std_folds'][f'{statistic}_{c}']:.3f}"
                 f" ({summary['std_seeds'][f'{statistic}_{c}']:.3f})" for c in columns]
        lines.append(f"| {STATISTIC_NAMES[statistic]} | " + " | ".join(cells) + " |")
        pooled = [f"{results['pooled_over_folds'][f'{statistic}_{c}']:.3f}" for c in columns]
        lines.append(f"| {STATISTIC_NAMES[statistic]}, pooled | " + " | ".join(pooled) + " |")
    if "reference" in results:
        reference = results["reference"]["metrics"]
        lines += ["", f"Reference on the same features and test folds, {results['reference']['name']}"
                  " (trained on all non-test folds; deterministic):", "",
                  "| statistic | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for statistic in STATISTICS:
            lines.append(f"| {STATISTIC_NAMES[statistic]} | " + " | ".join(
                f"{reference['mean'][f'{statistic}_{c}']:.3f}" for c in columns) + " |")
    lines += ["", "Per test fold (CCC, mean over seeds):", "",
              "| fold | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for fold, values in summary["per_fold"].items():
        lines.append(f"| {fold} | " + " | ".join(f"{values['ccc_' + c]:.3f}" for c in columns) + " |")
    for attribute, folds in results.get("constant_in_test_fold", {}).items():
        lines += ["", f"**{attribute} is constant within test fold(s) {', '.join(map(str, folds))}**: its CCC "
                  "there is 0 by definition (no spread to agree with) and counts in the means above."]
    lines += ["", f"{LAYER_WEIGHTS_CAPTION}: {results['mean_layer_weights']}"]
    if "classifier" in results:
        lines.append(f"Exported classifier: {results['classifier']['folder']}")
    return "\n".join(lines) + "\n"


def task_folder(root, task="categorical"):
    """Where a recipe's results, manifest and feature caches go: ``root`` for
    the categorical task, ``<root>/dimensional`` for the dimensional one (its
    manifest holds other utterances, so the two never share files).

    >>> task_folder("results/IEMOCAP"), task_folder("results/IEMOCAP", "dimensional")
    ('results/IEMOCAP', 'results/IEMOCAP/dimensional')
    """
    check_task(task)
    return root if task == "categorical" else os.path.join(root, task)
