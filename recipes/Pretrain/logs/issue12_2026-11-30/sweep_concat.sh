#!/bin/bash
# Issue 12: the default probe's weighted layer sum against the layers side by side, on cached features.
cd /work/main
export OMP_NUM_THREADS=1
V='{"lr_ref": {}, "sum": {"mode": "refit", "balanced": true, "ln": false}, "concat": {"mode": "refit", "balanced": true, "ln": false, "flatten": true}}'
for enc in random-care_small runs-care_small_2k-encoder_step500; do
  python benchmarks/probe_sweep.py EmoDB $enc "$V"
  python benchmarks/probe_sweep.py URDU $enc "$V"
done
