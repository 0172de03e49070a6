"""Exploration (2026-11-30): does mean+std pooling of CARE layers widen the
pretrained-vs-random gap? Deterministic LR reference (C=0.1), the recipes' folds.
    RUNS=... python pool_lr.py URDU DATA/urdu   (from the repository root, after the URDU recipe
    has prepared results/URDU/prepared; RUNS holds the 2,000-step run)"""
import json, os, sys, time, torch
from care.processing.folds import fold_splits
from care.probing.reference import logistic_regression
from care.probing.extractors import build_extractor
from care.processing.audio import load_audio
from care.probing.metrics import summarize

torch.set_num_threads(1)
corpus, data_root = sys.argv[1], sys.argv[2]
data = json.load(open(f"results/{corpus}/prepared/data.json"))
splits = list(fold_splits(data, 1))
labels = sorted({e["label"] for e in data.values()})
for src in ["random:care_small", os.path.join(os.environ["RUNS"], "care_small_2k/encoder")]:
    enc = build_extractor(src).encoder
    mean, std = {}, {}
    t = time.time()
    with torch.no_grad():
        for u, e in data.items():
            wav = load_audio(e["wav"].replace("{data_root}", data_root)).reshape(1, -1)
            h = enc(wav, None, output_hidden_states=True).hidden_states[:, 0]  # [L, T, D]
            mean[u], std[u] = h.mean(1), h.std(1, correction=0)
    both = {u: torch.cat([mean[u], std[u]], -1) for u in data}
    print(src, f"extract {time.time() - t:.0f}s", flush=True)
    for name, f in [("mean", mean), ("std", std), ("mean+std", both)]:
        for C in [0.1]:
            s = summarize(logistic_regression(f, data, splits, labels, C=C))
            m = s["mean"]
            if m["weighted_f1"] != m["weighted_f1"]: print(s["per_fold"])
            print(f"  {name:9s} C={C}: " + " ".join(f"{k} {100 * v:.1f}" for k, v in m.items()), flush=True)
