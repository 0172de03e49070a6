#!/usr/bin/env python3
"""The study's Step 3 table: the old defaults (the many-speakers study's
results.json, the previous code), the new defaults and the new linear head
(logs/*.json from benchmarks/probe_speed.py, logs/variants_*.jsonl), with the
logistic-regression reference of the same run.

    python docs/experiments/2026-12-07_fast-probe/table.py
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OLD = HERE.parent / "2026-12-03_many-speakers" / "results"
CORPORA = ["EmoDB", "URDU", "BAVED", "ASED", "nEMO"]
OLD_FOLDER = {"egemaps": "egemaps", "random:care_small": "random-care_small-linear_concat-mean_std"}


def main():
    speed = {}
    for path in sorted(HERE.glob("logs/speed_*.json")):
        for row in json.loads(path.read_text())["rows"]:
            speed[(row["dataset"], row["encoder_source"])] = row
    linear = {}
    for path in sorted(HERE.glob("logs/variants_*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["variant"] in ("c01_bal", "linear_concat"):
                linear[(row["corpus"], row["encoder"])] = row  # the last run wins
    print("| corpus | encoder | old default | new default | new - old | reference (LR) | "
          "`linear_concat` | `linear_concat` - reference | probe training, old -> new (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for encoder in ("random:care_small", "egemaps"):
        for corpus in CORPORA:
            old = json.loads((OLD / corpus / OLD_FOLDER[encoder] / "results.json").read_text())
            old_f1 = 100 * old["metrics"]["mean"]["weighted_f1"]
            new = speed.get((corpus, encoder))
            if new is None:
                print(f"| {corpus} | {encoder} | {old_f1:.2f} ({old['probe_head']}) | not run | | | | | |")
                continue
            reference = new["reference_weighted_f1"]
            lc = new["weighted_f1"] if new["probe_head"] == "linear_concat" else linear.get((corpus, encoder), {}).get("wf1")
            lc_cells = (f"{lc:.2f} | {lc - reference:+.2f}" if lc is not None else "not run | ")
            print(f"| {corpus} | {encoder} | {old_f1:.2f} ({old['probe_head']}) | {new['weighted_f1']:.2f} "
                  f"({new['probe_head']}) | {new['weighted_f1'] - old_f1:+.2f} | {reference:.2f} | {lc_cells} | "
                  f"{old['timing_seconds']['probe_training_all_runs']:,.0f} -> {new['probe_training_seconds']:,.1f} |")


if __name__ == "__main__":
    main()
