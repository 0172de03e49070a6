#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the EmoDB step-1,000 linear_concat probe, split over two processes by test folds, then all folds
# (reusing the finished ones) for the totals.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
A=(recipes/EmoDB/emotion/train.py hparams/probe.yaml --data_folder $DATA/emodb
   --encoder_source $RUNS/care_small_2k/encoder_step1000 --probe_head linear_concat --export_classifier False
   --output_folder results/EmoDB/care_small_2k-encoder_step1000-linear_concat)
python "${A[@]}" --test_folds '["03","08","09","10","11"]' > $RUNS/s1000_a.log 2>&1 &
python "${A[@]}" --test_folds '["12","13","14","15","16"]' > $RUNS/s1000_b.log 2>&1
wait
python "${A[@]}" > $RUNS/s1000_all.log 2>&1
echo "$(date +%H:%M) done"
