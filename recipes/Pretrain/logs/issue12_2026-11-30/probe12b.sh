#!/bin/bash
# Issue 12: learning-curve probes of the 2k run (default probe: mlp, 5 members, 3 seeds, speaker-independent folds).
cd /work/main
export OMP_NUM_THREADS=1
probe() {  # corpus folder encoder name
  python recipes/$1/emotion/train.py hparams/probe.yaml --data_folder /work/shared/data/$2 --encoder_source $3 \
      --export_classifier False --output_folder results/$1/$4-mlp5 > /work/runs/probe12_${2}_$4.log 2>&1
}
probe EmoDB emodb /work/runs/care_small_2k/encoder_step500 care_small_2k-encoder_step500
probe URDU urdu /work/runs/care_small_2k/encoder_step1000 care_small_2k-encoder_step1000
probe EmoDB emodb /work/runs/care_small_2k/encoder_step1000 care_small_2k-encoder_step1000
