"""The logistic-regression reference of every probing run: scikit-learn's
``LogisticRegression`` on standardised features, trained on all non-test
utterances of a fold (training and validation sets together), scored once on
the same test fold as the probe.

It needs no model selection (its one setting, ``C``, is fixed in the YAML),
depends on nothing but the features, and so tells how much a probe adds over
a linear classifier on the same input. Multi-layer features enter as the
chosen layers' pooled vectors side by side.

Example
-------
>>> import torch
>>> features = {f"u{i}": torch.tensor([[float(i % 2) + 0.1 * i]]) for i in range(8)}
>>> data = {u: {"label": "ab"[i % 2]} for i, u in enumerate(features)}
>>> test = {"u0": data["u0"], "u1": data["u1"]}
>>> train = {u: e for u, e in data.items() if u not in test}
>>> runs = logistic_regression(features, data, [("f1", train, {}, test)], ["a", "b"])
>>> runs[0]["fold"], runs[0]["test"]["wa"]
('f1', 1.0)

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import numpy as np
import torch

from care.probing.metrics import classification_metrics


def stacked_inputs(features, ids, layers=None):
    """The chosen layers' pooled vectors of ``ids`` side by side, as a float64
    array ``[utterances, layers * dim]`` (the input of the scikit-learn
    references)."""
    stacked = torch.stack([features[u] for u in ids])
    if layers is not None:
        stacked = stacked[:, list(layers)]
    return stacked.flatten(1).double().numpy()


def logistic_regression(features, data, splits, labels, layers=None, C=0.1, max_iter=5000):
    """Scores the reference on every test fold.

    Arguments
    ---------
    features : dict
        ``{utt_id: tensor [layers, dim]}``.
    data : dict
        The manifest (for labels).
    splits : list of tuple
        ``(fold, train, valid, test)`` as the probe's folds; the reference
        trains on ``train`` and ``valid`` together.
    labels : list of str
        Class names; a label's index is its class.
    layers : list of int, optional
        Layers to use (side by side); None: all.
    C : float
        Inverse L2 regularisation strength (scikit-learn's ``C``).
    max_iter : int
        L-BFGS iterations at most.

    Returns
    -------
    list of dict
        One per fold, ``{"seed": 0, "fold", "test": {metric: value}, "sizes"}``
        (the form :func:`care.probing.metrics.summarize` reads; the fit is
        deterministic, so there is one "seed").
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def inputs(ids):
        return stacked_inputs(features, ids, layers)

    def targets(ids):
        return np.array([labels.index(data[u]["label"]) for u in ids])

    runs = []
    for fold, train, valid, test in splits:
        fit_ids, test_ids = sorted(train) + sorted(valid), sorted(test)
        scaler = StandardScaler().fit(inputs(fit_ids))
        model = LogisticRegression(C=C, max_iter=max_iter)
        model.fit(scaler.transform(inputs(fit_ids)), targets(fit_ids))
        predictions = model.predict(scaler.transform(inputs(test_ids)))
        runs.append({
            "seed": 0,
            "fold": fold,
            "sizes": {"train": len(fit_ids), "test": len(test_ids)},
            "test": classification_metrics(targets(test_ids), predictions, len(labels)),
        })
    return runs
