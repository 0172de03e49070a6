#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the shipped recipes with the linear_concat head (layers side by side, linear, weight decay 0.1,
# 5 members, 3 seeds, speaker-independent folds) on the random control, the 2,000-step export, eGeMAPS,
# then the learning-curve exports.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
probe() {  # corpus folder encoder name
  [ -f results/$1/$4-linear_concat/results.md ] && return
  python recipes/$1/emotion/train.py hparams/probe.yaml --data_folder $DATA/$2 --encoder_source $3 \
      --probe_head linear_concat --export_classifier False --output_folder results/$1/$4-linear_concat \
      > $RUNS/probe_concat_${2}_$4.log 2>&1
  echo "$(date +%H:%M) done $1 $4"
}
for c in "EmoDB emodb" "URDU urdu"; do
  set -- $c
  probe $1 $2 random:care_small random-care_small
  probe $1 $2 $RUNS/care_small_2k/encoder care_small_2k-encoder_step2000
done
for c in "EmoDB emodb" "URDU urdu"; do
  set -- $c
  probe $1 $2 egemaps egemaps
  probe $1 $2 $RUNS/care_small_2k/encoder_step500 care_small_2k-encoder_step500
  probe $1 $2 $RUNS/care_small_2k/encoder_step1000 care_small_2k-encoder_step1000
done
