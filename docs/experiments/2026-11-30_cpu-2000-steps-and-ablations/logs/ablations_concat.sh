#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the CPU ablation exports (200 steps each) probed with the linear_concat head, on the features the
# default-probe runs cached (same folds, seeds 1-3, speaker-independent).
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
while pgrep -f ablations_last2.sh > /dev/null; do sleep 30; done
for v in full paper_routing semantic_only acoustic_only no_strided_convs; do
  for c in "EmoDB emodb" "URDU urdu"; do
    set -- $c
    out=$RUNS/ablations_cpu200/probe_linear_concat/$v/$1
    [ -f $out/results.md ] && continue
    python recipes/$1/emotion/train.py hparams/probe.yaml --data_folder $DATA/$2 \
        --encoder_source $RUNS/ablations_cpu200/$v/encoder --probe_head linear_concat --export_classifier False \
        --prepare_folder $RUNS/ablations_cpu200/probe/$v/$1/prepared --feature_folder $RUNS/ablations_cpu200/probe/$v/$1/features \
        --output_folder $out > $RUNS/ablations_concat_${v}_$1.log 2>&1
    echo "$(date +%H:%M) done $v $1"
  done
done
