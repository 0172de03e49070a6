#!/bin/bash
# Issue 12: cross-corpus with linear_concat on the shared + acoustic layers (the URDU diagnostic's layers).
cd /work/main
export OMP_NUM_THREADS=1
for d in "emodb urdu" "urdu emodb"; do
  set -- $d
  python recipes/cross_corpus.py --train $1 --test $2 --encoder_source random:care_small \
      --encoder_source /work/runs/care_small_2k/encoder --data_folder /work/shared/data \
      --output_folder results/cross_corpus_linear_concat_shared+acoustic --probe_head linear_concat \
      --layers shared+acoustic > /work/runs/cross_sa_$1-$2.log 2>&1
  echo "$(date +%H:%M) done cross linear_concat shared+acoustic $1 -> $2"
done
