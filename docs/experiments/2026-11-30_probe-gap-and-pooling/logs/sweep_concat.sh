#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the default probe's weighted layer sum against the layers side by side, on cached features.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
V='{"lr_ref": {}, "sum": {"mode": "refit", "balanced": true, "ln": false}, "concat": {"mode": "refit", "balanced": true, "ln": false, "flatten": true}}'
for enc in random-care_small runs-care_small_2k-encoder_step500; do
  python benchmarks/probe_sweep.py EmoDB $enc "$V"
  python benchmarks/probe_sweep.py URDU $enc "$V"
done
