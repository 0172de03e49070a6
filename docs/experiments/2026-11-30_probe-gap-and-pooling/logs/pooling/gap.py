"""Per-fold gap between two results.json (B - A): python gap.py A B"""
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ["weighted_f1", "ua"]:
    fa, fb = a["metrics"]["per_fold"], b["metrics"]["per_fold"]
    d = {f: 100 * (fb[f][k] - fa[f][k]) for f in fa}
    print(k, f"A {100*a['metrics']['mean'][k]:.1f} B {100*b['metrics']['mean'][k]:.1f} gap {100*(b['metrics']['mean'][k]-a['metrics']['mean'][k]):+.1f};",
          f"B higher on {sum(v > 0 for v in d.values())} of {len(d)};", " ".join(f"{f}:{v:+.1f}" for f, v in d.items()))
for r, n in ((a, "A"), (b, "B")):
    ref = r["reference"]["metrics"]["mean"]
    print(n, "LR", f"{100*ref['weighted_f1']:.1f} / {100*ref['ua']:.1f}", "seed std", f"{100*r['metrics']['std_seeds']['weighted_f1']:.1f}")
