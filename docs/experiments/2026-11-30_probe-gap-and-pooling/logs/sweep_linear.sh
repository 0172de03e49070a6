#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# why the MLP probe is below logistic regression on pretrained CARE-small features (EmoDB, step 500).
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
V='{"linear_sum": {"mode": "refit", "balanced": true, "ln": false, "hidden": 0}, "linear_concat": {"mode": "refit", "balanced": true, "ln": false, "hidden": 0, "flatten": true}, "mlp_no_selection_30": {"mode": "all", "fixed_epochs": 30, "balanced": true, "ln": false}}'
python benchmarks/probe_sweep.py EmoDB runs-care_small_2k-encoder_step500 "$V"
