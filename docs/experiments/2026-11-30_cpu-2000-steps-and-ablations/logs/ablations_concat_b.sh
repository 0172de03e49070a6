#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the rest of ablations_concat.sh on two processes: no_strided_convs now, and the others after the
# semantic_only EmoDB probe that ablations_concat.sh left running (its loop was stopped to share the cores).
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
probe() {  # variant corpus folder
  out=$RUNS/ablations_cpu200/probe_linear_concat/$1/$2
  [ -f $out/results.md ] && return
  python recipes/$2/emotion/train.py hparams/probe.yaml --data_folder $DATA/$3 \
      --encoder_source $RUNS/ablations_cpu200/$1/encoder --probe_head linear_concat --export_classifier False \
      --prepare_folder $RUNS/ablations_cpu200/probe/$1/$2/prepared --feature_folder $RUNS/ablations_cpu200/probe/$1/$2/features \
      --output_folder $out > $RUNS/ablations_concat_$1_$2.log 2>&1
  echo "$(date +%H:%M) done $1 $2"
}
( probe no_strided_convs EmoDB emodb; probe no_strided_convs URDU urdu ) &
while pgrep -f "ablations_cpu200/semantic_only/encoder --probe_head linear_concat" > /dev/null; do sleep 20; done
echo "$(date +%H:%M) done semantic_only EmoDB (ablations_concat.sh)"
probe semantic_only URDU urdu
probe acoustic_only EmoDB emodb
probe acoustic_only URDU urdu
wait
