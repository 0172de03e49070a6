#!/usr/bin/env bash
# Session 2026-12-04 (third): the old-pool export's in-corpus rows (queue4 never started: queue3 was cut by the session's end).
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
declare -A FOLDER=([EmoDB]=$DATA/emodb [URDU]=$DATA/urdu [nEMO]=$CORPORA/nEMO [ASED]=$CORPORA/ASED_V1 [BAVED]=$CORPORA/baved)
OLD=$RUNS/care_small_2k/encoder
for c in EmoDB URDU ASED BAVED nEMO; do
  echo "=== $(date -u +%FT%TZ) $c $OLD"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/$c/emotion/train.py hparams/probe.yaml \
    --data_folder ${FOLDER[$c]} --encoder_source $OLD \
    --experiment_folder $RUNS/many_speakers/$c --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
done
echo "=== queue6 done $(date -u +%FT%TZ)"
