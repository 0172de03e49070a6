#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# after probe_concat.sh: (1) URDU diagnostic: the linear_concat head without the semantic branch
# (English text layers) on the random control and the 2,000-step export; (2) cross-corpus (a corpus the probe
# never trained on) with linear_concat for both encoders, and the default mlp for the 2,000-step export.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
while pgrep -f probe_concat.sh > /dev/null; do sleep 30; done
for e in "random:care_small random-care_small" "$RUNS/care_small_2k/encoder care_small_2k-encoder_step2000"; do
  set -- $e
  out=results/URDU/$2-linear_concat-shared+acoustic
  [ -f $out/results.md ] || python recipes/URDU/emotion/train.py hparams/probe.yaml --data_folder $DATA/urdu \
      --encoder_source $1 --probe_head linear_concat --layers shared+acoustic --export_classifier False \
      --output_folder $out > $RUNS/probe_concat2_urdu_sa_$2.log 2>&1
  echo "$(date +%H:%M) done URDU shared+acoustic $2"
done
for d in "emodb urdu" "urdu emodb"; do
  set -- $d
  python recipes/cross_corpus.py --train $1 --test $2 --encoder_source random:care_small \
      --encoder_source $RUNS/care_small_2k/encoder --data_folder $DATA \
      --output_folder results/cross_corpus_linear_concat --probe_head linear_concat > $RUNS/cross_concat_$1-$2.log 2>&1
  echo "$(date +%H:%M) done cross linear_concat $1 -> $2"
done
for d in "emodb urdu" "urdu emodb"; do
  set -- $d
  python recipes/cross_corpus.py --train $1 --test $2 --encoder_source $RUNS/care_small_2k/encoder \
      --data_folder $DATA > $RUNS/cross_mlp2000_$1-$2.log 2>&1
  echo "$(date +%H:%M) done cross mlp step2000 $1 -> $2"
done
