"""The Pretrain README's CPU ablation table from the probe results (mlp and linear_concat)."""
import json, os
R = os.path.join(os.environ["RUNS"], "ablations_cpu200")  # run from the repository root
M = "results"
ratios = {  # validation at step 200, from each variant's train_log.txt (pooled / LJSpeech / FSDD)
    "full": ("0.574 / 0.493 / 0.602", "0.941 / 0.633 / 0.987"),
    "paper_routing": ("0.726 / 0.688 / 0.739", "0.941 / 0.633 / 0.987"),
    "semantic_only": ("1.31 (head untrained)", "0.94 / 0.633 / 0.985"),
    "acoustic_only": ("0.524 / 0.435 / 0.555", "33.3 (branch untrained)"),
    "no_strided_convs": ("0.634 / 0.555 / 0.662", "1.52 / 0.7 / 1.64"),
}
names = {"full": "`full`", "paper_routing": "`paper_routing` (`detach_acoustic: True`)",
         "semantic_only": "`semantic_only` (`acoustic_weight: 0`)",
         "acoustic_only": "`acoustic_only` (`semantic_weight: 0`)",
         "no_strided_convs": "`no_strided_convs` (`semantic_conv: False`)"}
def cell(path, ref=True):
    if not os.path.isfile(path):
        return "not measured"
    r = json.load(open(path)); m = r["metrics"]
    s = f"{100*m['mean']['weighted_f1']:.1f} ± {100*m['std_folds']['weighted_f1']:.1f} / {100*m['mean']['ua']:.1f}"
    if ref:
        l = r["reference"]["metrics"]["mean"]
        s += f" (LR {100*l['weighted_f1']:.1f} / {100*l['ua']:.1f})"
    return s
print("| variant (200 steps) | acoustic / predict-zero (pooled / LJSpeech / FSDD) | semantic / mean embedding (pooled / LJSpeech / FSDD) | EmoDB, `mlp` | URDU, `mlp` | EmoDB, `linear_concat` | URDU, `linear_concat` |")
print("|---|---|---|---|---|---|---|")
print("| `random:care_small` (step 0, the control) | | | " + " | ".join([
    cell(f"{M}/EmoDB/random-care_small-mlp5/results.json"), cell(f"{M}/URDU/random-care_small-mlp5/results.json"),
    cell(f"{M}/EmoDB/random-care_small-linear_concat/results.json", False),
    cell(f"{M}/URDU/random-care_small-linear_concat/results.json", False)]) + " |")
for v in names:
    print(f"| {names[v]} | {ratios[v][0]} | {ratios[v][1]} | " + " | ".join([
        cell(f"{R}/probe/{v}/EmoDB/results.json"), cell(f"{R}/probe/{v}/URDU/results.json"),
        cell(f"{R}/probe_linear_concat/{v}/EmoDB/results.json", False),
        cell(f"{R}/probe_linear_concat/{v}/URDU/results.json", False)]) + " |")
