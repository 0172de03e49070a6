#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# learning-curve probes of the 2k run (default probe: mlp, 5 members, 3 seeds, speaker-independent folds).
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
probe() {  # corpus folder encoder name
  python recipes/$1/emotion/train.py hparams/probe.yaml --data_folder $DATA/$2 --encoder_source $3 \
      --export_classifier False --output_folder results/$1/$4-mlp5 > $RUNS/probe12_${2}_$4.log 2>&1
}
probe EmoDB emodb $RUNS/care_small_2k/encoder_step500 care_small_2k-encoder_step500
probe URDU urdu $RUNS/care_small_2k/encoder_step1000 care_small_2k-encoder_step1000
probe EmoDB emodb $RUNS/care_small_2k/encoder_step1000 care_small_2k-encoder_step1000
