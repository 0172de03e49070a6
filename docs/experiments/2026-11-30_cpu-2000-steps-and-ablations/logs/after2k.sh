#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# after the 2k run ends, probe its final export (step 2,000, 100 %), then resume the CPU ablations.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
while pgrep -f "care_small_2k[.]sh|output_folder $RUNS/care_small_2k " > /dev/null; do sleep 30; done
[ -f $RUNS/care_small_2k/encoder/hyperparams.yaml ] || ls $RUNS/care_small_2k/encoder || exit 1
probe() {  # corpus folder encoder name
  python recipes/$1/emotion/train.py hparams/probe.yaml --data_folder $DATA/$2 --encoder_source $3 \
      --export_classifier False --output_folder results/$1/$4-mlp5 > $RUNS/probe12_${2}_$4.log 2>&1
}
probe URDU urdu $RUNS/care_small_2k/encoder care_small_2k-encoder_step2000 &
probe EmoDB emodb $RUNS/care_small_2k/encoder care_small_2k-encoder_step2000
wait
bash docs/experiments/2026-11-30_cpu-2000-steps-and-ablations/logs/ablations_cpu200.sh >> $RUNS/ablations_cpu200.log 2>&1
