#!/bin/bash
# Issue 12: after the 2k run ends, probe its final export (step 2,000, 100 %), then resume the CPU ablations.
cd /work/main
export OMP_NUM_THREADS=1
while pgrep -f "care_small_2k[.]sh|output_folder /work/runs/care_small_2k " > /dev/null; do sleep 30; done
[ -f /work/runs/care_small_2k/encoder/hyperparams.yaml ] || ls /work/runs/care_small_2k/encoder || exit 1
probe() {  # corpus folder encoder name
  python recipes/$1/emotion/train.py hparams/probe.yaml --data_folder /work/shared/data/$2 --encoder_source $3 \
      --export_classifier False --output_folder results/$1/$4-mlp5 > /work/runs/probe12_${2}_$4.log 2>&1
}
probe URDU urdu /work/runs/care_small_2k/encoder care_small_2k-encoder_step2000 &
probe EmoDB emodb /work/runs/care_small_2k/encoder care_small_2k-encoder_step2000
wait
bash /work/runs/ablations_cpu200.sh >> /work/runs/ablations_cpu200.log 2>&1
