"""Emotion-recognition metrics from a confusion matrix, their aggregation
over folds and seeds, and the confusion-matrix image.

- ``weighted_f1``: per-class F1 weighted by class support (this collection's headline metric);
- ``ua``: unweighted accuracy, the mean per-class recall (balanced accuracy);
- ``wa``: weighted accuracy, i.e. plain accuracy;
- ``macro_f1``: unweighted mean of per-class F1.

They follow scikit-learn's definitions (``f1_score(average="weighted" |
"macro")``, ``balanced_accuracy_score``, ``accuracy_score``): classes absent
from both targets and predictions are ignored; classes absent from the
targets count 0 in F1 averages and are left out of UA.

Example
-------
>>> m = classification_metrics([0, 0, 1, 2], [0, 1, 1, 2], num_classes=3)
>>> {k: round(v, 4) for k, v in m.items()}
{'weighted_f1': 0.75, 'ua': 0.8333, 'wa': 0.75, 'macro_f1': 0.7778}

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import numpy as np

METRICS = ("weighted_f1", "ua", "wa", "macro_f1")
METRIC_NAMES = {
    "weighted_f1": "weighted F1",
    "ua": "UA",
    "wa": "WA",
    "macro_f1": "macro F1",
}


def confusion_matrix(targets, predictions, num_classes):
    """``[num_classes, num_classes]`` counts, rows: targets, columns: predictions."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets, int), np.asarray(predictions, int)), 1)
    return matrix


def metrics_from_confusion(matrix):
    """The four metrics (floats in [0, 1]) of a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    correct = np.diag(matrix)
    total = matrix.sum()
    if total == 0:
        raise ValueError("no utterances to score")
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, correct / support, 0.0)
        precision = np.where(predicted > 0, correct / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    seen = (support + predicted) > 0
    return {
        "weighted_f1": float((f1 * support).sum() / total),
        "ua": float(recall[support > 0].mean()),
        "wa": float(correct.sum() / total),
        "macro_f1": float(f1[seen].mean()),
    }


def classification_metrics(targets, predictions, num_classes):
    """The four metrics of integer ``targets`` and ``predictions``."""
    return metrics_from_confusion(confusion_matrix(targets, predictions, num_classes))


def summarize(runs, metrics=METRICS):
    """Aggregates per-run test metrics over seeds and folds.

    Arguments
    ---------
    runs : list of dict
        One per (seed, fold): ``{"seed", "fold", "test": {metric: value}}``.

    Returns
    -------
    dict
        ``per_fold``: ``{fold: {metric: mean over seeds}}``;
        ``mean`` / ``std_folds``: mean and standard deviation over folds of
        the seed-averaged values; ``std_seeds``: standard deviation over
        seeds of the fold-averaged values (0 for one seed).

    Example
    -------
    >>> runs = [{"seed": s, "fold": f, "test": {"ua": u}} for s, f, u in
    ...         [(1, "a", 0.5), (1, "b", 0.7), (2, "a", 0.7), (2, "b", 0.9)]]
    >>> out = summarize(runs, metrics=["ua"])
    >>> round(out["mean"]["ua"], 3), round(out["std_folds"]["ua"], 3), round(out["std_seeds"]["ua"], 3)
    (0.7, 0.141, 0.141)
    """
    folds = list(dict.fromkeys(r["fold"] for r in runs))
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    per_fold = {
        f: {m: float(np.mean([r["test"][m] for r in runs if r["fold"] == f])) for m in metrics}
        for f in folds
    }
    per_seed = {
        s: {m: float(np.mean([r["test"][m] for r in runs if r["seed"] == s])) for m in metrics}
        for s in seeds
    }

    def std(values):
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    return {
        "per_fold": per_fold,
        "mean": {m: float(np.mean([per_fold[f][m] for f in folds])) for m in metrics},
        "std_folds": {m: std([per_fold[f][m] for f in folds]) for m in metrics},
        "std_seeds": {m: std([per_seed[s][m] for s in seeds]) for m in metrics},
    }


def plot_confusion(matrix, labels, path, title=""):
    """Saves a row-normalised confusion matrix (with counts) as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from care.io import atomic_path

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{rates[i, j]:.2f}\n({matrix[i, j]})", ha="center", va="center",
                    fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=120)
    plt.close(fig)
