#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# statistics pooling: the learning curve under linear_concat + mean_std (the 2k run's exports at
# steps 500 and 1,000; step 0 and 2,000 are probe_ms.sh's). Waits for cross_ms.sh.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
while pgrep -f cross_ms.sh > /dev/null; do sleep 20; done
for corpus in URDU EmoDB; do
  folder=$DATA/$(echo $corpus | tr A-Z a-z)
  for step in 500 1000; do
    name=care_small_2k-encoder_step$step
    python recipes/$corpus/emotion/train.py hparams/probe.yaml --data_folder $folder \
        --encoder_source $RUNS/care_small_2k/encoder_step$step \
        --probe_head linear_concat --pooling mean_std --export_classifier False \
        --output_folder results/$corpus/$name-linear_concat-mean_std > $RUNS/curve_ms_${corpus}_$step.log 2>&1
    grep -A3 "| metric" results/$corpus/$name-linear_concat-mean_std/results.md | sed -n 3p | sed "s|^|$corpus $name: |"
  done
done
