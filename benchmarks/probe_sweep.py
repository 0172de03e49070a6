#!/usr/bin/env python3
"""The measurements behind the default probe (an ensemble of MLPs; study:
docs/experiments/2026-11-30_default-probe-ensemble): each suspect of the
old probe's weakness, on a recipe's cached features and its folds, in a plain
PyTorch loop (its own shuffling, so numbers differ slightly from the recipe's
Brain; the recipe numbers in the READMEs come from the recipes themselves).

    python benchmarks/probe_sweep.py EmoDB egemaps '{"lr_ref": {}, "old": {},
        "refit": {"mode": "refit"}, "refit_balanced_noln": {"mode": "refit",
        "balanced": true, "ln": false}}'

Arguments: the recipe's results folder name (``results/<corpus>``, prepared and
extracted by running the recipe once), the feature cache name, and a JSON
object of variants: ``lr_ref`` (scikit-learn logistic regression, C = 0.1, on
all non-test folds) or keyword arguments of ``run_variant``: ``hidden`` (0:
linear), ``dropout``, ``ln`` (per-layer LayerNorm), ``lr``, ``wd``,
``epochs``, ``balanced`` (class-weighted loss), ``hidden_dim``, ``ls`` (label
smoothing), ``ensemble`` (that many probes trained independently, each with its
own seed, epoch selection and refit, probabilities averaged: the recipes'
``members``), ``mode`` (``select``: train on
the training folds, test the best validation epoch; ``refit``: then retrain on
training + validation for that many epochs; ``all``: train + validation for
``epochs``, no selection, a diagnostic only), ``flatten`` (the layers side by
side as one input vector, ``[1, layers * dim]``, instead of the softmax layer
weighting's weighted sum). Each prints weighted F1 and UA,
mean over folds of the 3-seed mean.

Authors
 * CARE for SpeechBrain contributors, 2026
"""
import json, os, sys, time
import numpy as np, torch
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from care.lobes.probe import EmotionProbe
from care.probing.metrics import classification_metrics
from care.processing.folds import fold_splits
from care.processing.manifest import load_manifest

torch.set_num_threads(1)

def load(corpus, enc):
    data = load_manifest(f"results/{corpus}/prepared/data.json")
    cache = torch.load(f"results/{corpus}/features/{enc}.pt", weights_only=True)
    feats = dict(zip(cache["ids"], cache["features"]))
    labels = sorted({e["label"] for e in data.values()})
    y = {u: labels.index(e["label"]) for u, e in data.items()}
    splits = list(fold_splits(data, num_valid_folds=1))
    return data, feats, y, labels, splits

def lr_ref(feats, y, splits, C=0.1, layers_mode="concat"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    out = []
    for fold, tr, va, te in splits:
        trn = sorted(tr) + sorted(va); tst = sorted(te)
        X = lambda ids: torch.stack([feats[u] for u in ids]).flatten(1).numpy()
        sc = StandardScaler().fit(X(trn))
        m = LogisticRegression(C=C, max_iter=5000).fit(sc.transform(X(trn)), [y[u] for u in trn])
        p = m.predict(sc.transform(X(tst)))
        out.append(classification_metrics([y[u] for u in tst], p, len(set(y.values()))))
    return out

def train(probe, Xtr, ytr, epochs, lr, wd, bs=32, Xva=None, yva=None, seed=1, opt="adamw", balanced=False, ls=0.0):
    g = torch.Generator().manual_seed(seed)
    o = (torch.optim.AdamW if opt == "adamw" else torch.optim.Adam)(probe.parameters(), lr=lr, weight_decay=wd)
    n = len(ytr); curve = []; best = (-1, 0, None)
    weight = None
    if balanced:
        counts = torch.bincount(ytr, minlength=probe.config["num_classes"]).float()
        weight = counts.sum() / (len(counts) * counts.clamp(min=1))
    for ep in range(1, epochs + 1):
        probe.train()
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = torch.nn.functional.cross_entropy(probe(Xtr[idx]), ytr[idx], weight=weight, label_smoothing=ls)
            o.zero_grad(); loss.backward(); o.step()
        if Xva is not None:
            probe.eval()
            with torch.no_grad():
                p = probe(Xva).argmax(-1)
            f1 = classification_metrics(yva.tolist(), p.tolist(), probe.config["num_classes"])["weighted_f1"]
            curve.append(f1)
            if f1 > best[0]:
                best = (f1, ep, {k: v.clone() for k, v in probe.state_dict().items()})
    return best, curve

def run_variant(feats, y, splits, C, seeds=(1, 2, 3), hidden=1, dropout=0.3, ln=True, lr=1e-3, wd=0.01,
                epochs=40, mode="select", scale_epochs=False, opt="adamw", balanced=False, fixed_epochs=None,
                hidden_dim=256, ls=0.0, ensemble=1, flatten=False):
    if flatten:  # the layers side by side: one "layer" of layers * dim values
        feats = {u: f.flatten()[None] for u, f in feats.items()}
    if ensemble > 1:  # average the class probabilities of `ensemble` probes (seeds seed*1000 + k)
        members = [run_variant_single(feats, y, splits, C, [s * 1000 + k for s in seeds for k in range(ensemble)],
                                      hidden, dropout, ln, lr, wd, epochs, mode, scale_epochs, opt, balanced,
                                      fixed_epochs, hidden_dim, ls)]
        res = []
        for seed in seeds:
            for fold, _, _, te in splits:
                rows = [r for r in members[0] if r["fold"] == fold and r["seed"] // 1000 == seed]
                prob = torch.stack([r["prob"] for r in rows]).mean(0)
                m = classification_metrics(rows[0]["true"], prob.argmax(-1).tolist(), C)
                m["fold"], m["seed"], m["epoch"] = fold, seed, float(np.median([r["epoch"] for r in rows]))
                res.append(m)
        return res
    return run_variant_single(feats, y, splits, C, seeds, hidden, dropout, ln, lr, wd, epochs, mode, scale_epochs,
                              opt, balanced, fixed_epochs, hidden_dim, ls)

def run_variant_single(feats, y, splits, C, seeds, hidden, dropout, ln, lr, wd, epochs, mode, scale_epochs, opt,
                       balanced, fixed_epochs, hidden_dim, ls):
    res = []
    for seed in seeds:
        for fold, tr, va, te in splits:
            T = lambda ids: torch.stack([feats[u] for u in ids])
            L = lambda ids: torch.tensor([y[u] for u in ids])
            tr, va, te = sorted(tr), sorted(va), sorted(te)
            torch.manual_seed(seed)
            mk = lambda: EmotionProbe(num_layers=feats[tr[0]].shape[0], input_dim=feats[tr[0]].shape[1], num_classes=C,
                                      hidden_dim=hidden_dim, num_hidden_layers=hidden, dropout=dropout, layer_norm=ln)
            if mode == "all":  # train+valid, fixed epochs, no selection (diagnostic)
                p = mk(); p.set_normalisation(T(tr + va))
                train(p, T(tr + va), L(tr + va), fixed_epochs or epochs, lr, wd, seed=seed, opt=opt, balanced=balanced, ls=ls)
                ep = fixed_epochs or epochs
            else:
                p = mk(); p.set_normalisation(T(tr))
                (f1, ep, state), curve = train(p, T(tr), L(tr), epochs, lr, wd, Xva=T(va), yva=L(va), seed=seed, opt=opt, balanced=balanced, ls=ls)
                p.load_state_dict(state)
                if mode == "refit":
                    torch.manual_seed(seed)
                    p = mk(); p.set_normalisation(T(tr + va))
                    e2 = ep
                    if scale_epochs:
                        e2 = max(1, round(ep * len(tr) / len(tr + va)))  # same number of steps
                    train(p, T(tr + va), L(tr + va), e2, lr, wd, seed=seed, opt=opt, balanced=balanced, ls=ls)
            p.eval()
            with torch.no_grad():
                prob = p(T(te)).softmax(-1)
            pred = prob.argmax(-1)
            m = classification_metrics(L(te).tolist(), pred.tolist(), C); m["fold"] = fold; m["seed"] = seed; m["epoch"] = ep
            m["prob"], m["true"] = prob, L(te).tolist()
            res.append(m)
    return res

def summary(res):
    folds = sorted({r.get("fold", i) for i, r in enumerate(res)})
    if "fold" not in res[0]:
        return {m: 100 * np.mean([r[m] for r in res]) for m in ("weighted_f1", "ua")}
    out = {}
    for m in ("weighted_f1", "ua"):
        out[m] = 100 * np.mean([np.mean([r[m] for r in res if r["fold"] == f]) for f in folds])
    out["ep"] = np.median([r["epoch"] for r in res])
    return out

if __name__ == "__main__":
    corpus, enc = sys.argv[1], sys.argv[2]
    variants = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    data, feats, y, labels, splits = load(corpus, enc)
    C = len(labels)
    if not variants or "lr_ref" in variants:
        s = summary(lr_ref(feats, y, splits)); print(f"{corpus} {enc} LR C=0.1: wF1 {s['weighted_f1']:.1f} UA {s['ua']:.1f}", flush=True)
        variants.pop("lr_ref", None)
    for name, kw in variants.items():
        t = time.time()
        s = summary(run_variant(feats, y, splits, C, **kw))
        print(f"{corpus} {enc} {name}: wF1 {s['weighted_f1']:.1f} UA {s['ua']:.1f} median-epoch {s['ep']} ({time.time()-t:.0f}s)", flush=True)
