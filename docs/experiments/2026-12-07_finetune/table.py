#!/usr/bin/env python3
"""The plan's four-row table from the runs' ``results.json`` (copied into
``results/`` by the README's ``collect.py`` command, or read from the experiment folder directly).

    python docs/experiments/2026-12-07_finetune/table.py                  # from results/EmoDB5
    python docs/experiments/2026-12-07_finetune/table.py RUNS/finetune/EmoDB5
    # an addendum's run against the plan's: the rows of both, and the second minus the first per fold
    python docs/experiments/2026-12-07_finetune/table.py docs/experiments/2026-12-07_finetune/results/EmoDB5 \
        docs/experiments/2026-12-07_finetune/results/EmoDB5_augment_random
    # (the second's fine-tuned runs are also set against the first's frozen probes of the same encoder)

Rows: each encoder fine-tuned and read by the default frozen probe; weighted F1,
UA, WA and macro F1 (mean over the test folds), each fold's weighted F1, the
frozen rows' logistic-regression reference, and the wall time of the run.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
METRICS = ("weighted_f1", "ua", "wa", "macro_f1")


def load_runs(folder):
    """``{(encoder, setting): results}`` of every ``results.json`` under ``folder``."""
    runs = {}
    for path in sorted(Path(folder).rglob("results.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        setting = "fine-tuned" if results.get("probe_head") == "finetune" else "frozen"
        mode = (results.get("feature_normalization") or {}).get("mode", "none")
        if mode != "none":  # a frozen probe of normalised features (the recipes' default since addendum 6's session)
            setting += f", {mode}-normalised"
        runs[(results["encoder_name"], setting)] = results
    return runs


def row(encoder, setting, results):
    """One Markdown row of the table."""
    mean = results["metrics"]["mean"]
    folds = results["metrics"]["per_fold"]
    cells = [f"`{encoder}`", setting]
    cells += [f"{100 * mean[m]:.1f}" for m in METRICS]
    cells.append(" / ".join(f"{100 * folds[f]['weighted_f1']:.1f}" for f in sorted(folds)))
    reference = results.get("reference")
    cells.append(f"{100 * reference['metrics']['mean']['weighted_f1']:.1f}" if reference else "–")
    timing = results["timing_seconds"]  # fine-tuning: every fold's training; frozen: extraction and probes
    seconds = timing.get("training_all_folds", 0.0) + timing.get("feature_extraction", 0.0)
    seconds += timing.get("probe_training_all_runs", 0.0)
    cells.append(f"{seconds / 60:.0f} min")
    return "| " + " | ".join(cells) + " |"


def table(runs):
    """The Markdown table, fine-tuned rows first within each encoder."""
    folds = sorted(next(iter(runs.values()))["metrics"]["per_fold"]) if runs else []
    lines = [
        "| encoder | setting | weighted F1 | UA | WA | macro F1 | weighted F1 per test fold ("
        + ", ".join(folds) + ") | logistic regression | time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (encoder, setting) in sorted(runs, key=lambda k: (k[0], k[1] != "fine-tuned")):
        lines.append(row(encoder, setting, runs[(encoder, setting)]))
    return "\n".join(lines)


def gaps(runs):
    """The plan's goal, as sentences: fine-tuned against frozen, and against
    the fine-tuned random control."""
    wf1 = {key: 100 * r["metrics"]["mean"]["weighted_f1"] for key, r in runs.items()}
    lines = []
    for (encoder, setting), value in sorted(wf1.items()):
        if setting == "fine-tuned" and (encoder, "frozen") in wf1:
            lines.append(f"- `{encoder}` fine-tuned minus frozen: {value - wf1[(encoder, 'frozen')]:+.1f}")
    pretrained = [e for (e, s) in wf1 if s == "fine-tuned" and not e.startswith("random")]
    control = [e for (e, s) in wf1 if s == "fine-tuned" and e.startswith("random")]
    for encoder in pretrained:
        for random_encoder in control:
            lines.append(f"- `{encoder}` fine-tuned minus `{random_encoder}` fine-tuned: "
                         f"{wf1[(encoder, 'fine-tuned')] - wf1[(random_encoder, 'fine-tuned')]:+.1f}")
    return "\n".join(lines)


def difference(a, b):
    """The weighted F1 of run ``b`` minus run ``a``: on the mean, per test fold,
    and on how many folds it is higher, as a phrase."""
    a, b = a["metrics"], b["metrics"]
    folds = sorted(a["per_fold"])
    per_fold = [100 * (b["per_fold"][f]["weighted_f1"] - a["per_fold"][f]["weighted_f1"]) for f in folds]
    return (f"{100 * (b['mean']['weighted_f1'] - a['mean']['weighted_f1']):+.1f} on the mean; per fold "
            f"({', '.join(folds)}) {' / '.join(f'{d:+.1f}' for d in per_fold)}; "
            f"higher on {sum(d > 0 for d in per_fold)} of {len(folds)}")


def differences(first, second):
    """Sentences: for each (encoder, setting) run in both, the second's weighted F1
    minus the first's; then each fine-tuned run of the second minus each frozen run
    of the same encoder in the first (a fine-tuned run against its frozen probes), and
    against each fine-tuned random control of the first."""
    lines = [f"- `{key[0]}` {key[1]}: {difference(first[key], second[key])}"
             for key in sorted(set(first) & set(second))]
    for (encoder, setting) in sorted(second):
        if setting != "fine-tuned":
            continue
        for key in sorted(k for k in first if k[0] == encoder and k[1].startswith("frozen")):
            lines.append(f"- `{encoder}` fine-tuned (second) minus {key[1]} (first): "
                         f"{difference(first[key], second[(encoder, setting)])}")
        for key in sorted(k for k in first if k[1] == "fine-tuned" and k[0] != encoder and k[0].startswith("random")):
            lines.append(f"- `{encoder}` fine-tuned (second) minus `{key[0]}` fine-tuned (first): "
                         f"{difference(first[key], second[(encoder, setting)])}")
    return "\n".join(lines)


if __name__ == "__main__":
    found = load_runs(sys.argv[1] if len(sys.argv) > 1 else HERE / "results" / "EmoDB5")
    print(table(found))
    print()
    if len(sys.argv) > 2:
        other = load_runs(sys.argv[2])
        print(table(other))
        print()
        print(differences(found, other))
    else:
        print(gaps(found))
