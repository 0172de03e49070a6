#!/usr/bin/env bash
# The plan's cross-corpus cells: every ordered pair of EmoDB, URDU, nEMO, ASED, each normalisation, one
# encoder at a time (each run resumes). Run from a checkout of the commit under test; DATA, CORPORA and RUNS
# as in PLAN.md. The working folder's results/ is RUNS/normalisation, so each corpus's preparation and
# feature cache are those of its in-corpus runs (the recipes' default experiment folder is results/<Dataset>).
# speaker on a pair with URDU is refused by the recipe (URDU's speakers mostly speak one emotion): logged.
# Usage: cross.sh ENCODER... ; NORMS="none corpus speaker" by default; CROSS_CORPORA="emodb urdu ased" keeps
# the pairs among those; ONLY_WITH=nemo keeps the pairs with that corpus (the same cells, split in two queues).
REPO="$(git rev-parse --show-toplevel)"; export PYTHONPATH="$REPO"
declare -A FOLDER=([emodb]=$DATA/emodb [urdu]=$DATA/urdu [nemo]=$CORPORA/nEMO [ased]=$CORPORA/ASED_V1)
mkdir -p $RUNS/xcwd_norm && ln -sfn ../normalisation $RUNS/xcwd_norm/results && cd $RUNS/xcwd_norm
for enc in "$@"; do
for norm in ${NORMS:-none corpus speaker}; do
for a in ${CROSS_CORPORA:-emodb urdu nemo ased}; do for b in ${CROSS_CORPORA:-emodb urdu nemo ased}; do
  [ $a = $b ] && continue
  [ -n "${ONLY_WITH:-}" ] && [ $a != "$ONLY_WITH" ] && [ $b != "$ONLY_WITH" ] && continue
  echo "=== $(date -u +%FT%TZ) $a -> $b $enc $norm"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python $REPO/recipes/cross_corpus.py --train $a --test $b \
    --encoder_source $enc --dataset_folder $a=${FOLDER[$a]} --dataset_folder $b=${FOLDER[$b]} \
    --output_folder $RUNS/normalisation_cross --feature_normalization $norm --noprogressbar 2>&1 \
    | grep -v "it/s\]" | grep "^|\|wall\|Error\|error\|refused" | tail -4
done; done; done; done
echo "=== cross done $(date -u +%FT%TZ)"
