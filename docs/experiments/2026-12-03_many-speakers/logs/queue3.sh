#!/usr/bin/env bash
# Session 2026-12-04: the plan's remaining in-corpus rows (resumable: every probe run resumes its folds).
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
declare -A FOLDER=([EmoDB]=$DATA/emodb [URDU]=$DATA/urdu [nEMO]=$CORPORA/nEMO [ASED]=$CORPORA/ASED_V1 [BAVED]=$CORPORA/baved)
NEW=$RUNS/care_small_pool_2k/encoder
for job in "ASED $NEW" "BAVED $NEW" "BAVED random:care_small" "nEMO $NEW" "nEMO random:care_small"; do
  set -- $job; c=$1; enc=$2
  echo "=== $(date -u +%FT%TZ) $c $enc"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/$c/emotion/train.py hparams/probe.yaml \
    --data_folder ${FOLDER[$c]} --encoder_source $enc \
    --experiment_folder $RUNS/many_speakers/$c --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
done
echo "=== queue3 done $(date -u +%FT%TZ)"
