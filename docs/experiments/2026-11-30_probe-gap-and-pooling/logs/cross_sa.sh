#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# cross-corpus with linear_concat on the shared + acoustic layers (the URDU diagnostic's layers).
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
for d in "emodb urdu" "urdu emodb"; do
  set -- $d
  python recipes/cross_corpus.py --train $1 --test $2 --encoder_source random:care_small \
      --encoder_source $RUNS/care_small_2k/encoder --data_folder $DATA \
      --output_folder results/cross_corpus_linear_concat_shared+acoustic --probe_head linear_concat \
      --layers shared+acoustic > $RUNS/cross_sa_$1-$2.log 2>&1
  echo "$(date +%H:%M) done cross linear_concat shared+acoustic $1 -> $2"
done
