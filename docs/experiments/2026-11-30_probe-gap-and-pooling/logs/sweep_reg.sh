#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# does stronger regularisation close the MLP's gap to the logistic regression on pretrained
# CARE-small features, and what does it do to the random control? (one member, refit, class-balanced)
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
V='{"lr_ref": {}, "default_1member": {"mode": "refit", "balanced": true, "ln": false}, "dropout05_wd01": {"mode": "refit", "balanced": true, "ln": false, "dropout": 0.5, "wd": 0.1}, "hidden64_dropout05_wd01": {"mode": "refit", "balanced": true, "ln": false, "dropout": 0.5, "wd": 0.1, "hidden_dim": 64}, "linear_concat_wd01": {"mode": "refit", "balanced": true, "ln": false, "hidden": 0, "flatten": true, "wd": 0.1}}'
for enc in runs-care_small_2k-encoder random-care_small; do
  python benchmarks/probe_sweep.py EmoDB $enc "$V"
  python benchmarks/probe_sweep.py URDU $enc "$V"
done
