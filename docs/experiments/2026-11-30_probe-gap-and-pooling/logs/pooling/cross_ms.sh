#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# statistics pooling (pooling/PLAN.md, run 2): cross-corpus, linear_concat, --pooling mean_std,
# random control and the 2k export, both directions. Starts when probe_ms.sh has done its linear_concat runs.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
while [ ! -f results/EmoDB/care_small_2k-encoder_step2000-linear_concat-mean_std/results.md ]; do sleep 20; done
for d in "emodb urdu" "urdu emodb"; do
  set -- $d
  python recipes/cross_corpus.py --train $1 --test $2 --encoder_source random:care_small \
      --encoder_source $RUNS/care_small_2k/encoder --data_folder $DATA \
      --output_folder results/cross_corpus_linear_concat_mean_std --probe_head linear_concat \
      --pooling mean_std > $RUNS/cross_ms_$1-$2.log 2>&1
  echo "$(date +%H:%M) done cross linear_concat mean_std $1 -> $2"
done
