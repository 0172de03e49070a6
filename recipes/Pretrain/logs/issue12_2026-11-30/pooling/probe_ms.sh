#!/bin/bash
# Issue 12, statistics pooling (recipes/Pretrain/logs/issue12_2026-11-30/pooling/PLAN.md, run 1):
# --pooling mean_std, heads linear_concat and mlp, random control and the 2k export, EmoDB and URDU.
cd /work/main
export OMP_NUM_THREADS=1
for head in linear_concat mlp; do
  for corpus in URDU EmoDB; do
    folder=/work/shared/data/$(echo $corpus | tr A-Z a-z)
    for enc in random:care_small /work/runs/care_small_2k/encoder; do
      name=$(echo $enc | sed 's|random:care_small|random-care_small|; s|/work/runs/care_small_2k/encoder|care_small_2k-encoder_step2000|')
      python recipes/$corpus/emotion/train.py hparams/probe.yaml --data_folder $folder --encoder_source $enc \
          --probe_head $head --pooling mean_std --export_classifier False \
          --output_folder results/$corpus/$name-$head-mean_std > /work/runs/probe_ms_${corpus}_${name}_$head.log 2>&1
      grep -A3 "| metric" results/$corpus/$name-$head-mean_std/results.md | sed -n 3p | sed "s|^|$corpus $name $head: |"
    done
  done
done
