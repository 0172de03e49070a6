#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# statistics pooling (PLAN.md of this entry, run 1):
# --pooling mean_std, heads linear_concat and mlp, random control and the 2k export, EmoDB and URDU.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
for head in linear_concat mlp; do
  for corpus in URDU EmoDB; do
    folder=$DATA/$(echo $corpus | tr A-Z a-z)
    for enc in random:care_small $RUNS/care_small_2k/encoder; do
      name=$(echo $enc | sed "s|random:care_small|random-care_small|; s|$RUNS/care_small_2k/encoder|care_small_2k-encoder_step2000|")
      python recipes/$corpus/emotion/train.py hparams/probe.yaml --data_folder $folder --encoder_source $enc \
          --probe_head $head --pooling mean_std --export_classifier False \
          --output_folder results/$corpus/$name-$head-mean_std > $RUNS/probe_ms_${corpus}_${name}_$head.log 2>&1
      grep -A3 "| metric" results/$corpus/$name-$head-mean_std/results.md | sed -n 3p | sed "s|^|$corpus $name $head: |"
    done
  done
done
