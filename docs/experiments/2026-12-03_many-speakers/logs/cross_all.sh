#!/usr/bin/env bash
# Session 2026-12-04: the plan's cross-corpus cells, every ordered pair of EmoDB, URDU, nEMO, ASED, one run per
# encoder (the plan's command with one --encoder_source at a time; each run resumes). Run from a folder whose
# results/ is RUNS/many_speakers, so each corpus's feature cache is the one of its in-corpus runs (the recipes'
# default experiment folder is results/<Dataset>). Only the two corpora of a pair get --dataset_folder
# (cross_corpus.py refuses a folder for a corpus outside the run: the first version of this script did that).
# Usage: cross_all.sh ENCODER... (default: all four of the plan).
REPO="$(git rev-parse --show-toplevel)"; export PYTHONPATH="$REPO"
declare -A FOLDER=([emodb]=$DATA/emodb [urdu]=$DATA/urdu [nemo]=$CORPORA/nEMO [ased]=$CORPORA/ASED_V1)
OLD=$RUNS/care_small_2k/encoder NEW=$RUNS/care_small_pool_2k/encoder
ENCODERS=("$@"); [ ${#ENCODERS[@]} -eq 0 ] && ENCODERS=(egemaps random:care_small $NEW $OLD)
mkdir -p $RUNS/xcwd && ln -sfn ../many_speakers $RUNS/xcwd/results && cd $RUNS/xcwd
for enc in "${ENCODERS[@]}"; do
for a in emodb urdu nemo ased; do for b in emodb urdu nemo ased; do
  [ $a = $b ] && continue
  echo "=== $(date -u +%FT%TZ) $a -> $b $enc"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python $REPO/recipes/cross_corpus.py --train $a --test $b --encoder_source $enc \
    --dataset_folder $a=${FOLDER[$a]} --dataset_folder $b=${FOLDER[$b]} \
    --output_folder $RUNS/many_speakers_cross 2>&1 | grep -v "it/s\]" | grep "^|\|wall\|Error\|error" | tail -4
done; done; done
echo "=== cross done $(date -u +%FT%TZ)"
