#!/usr/bin/env bash
# Session 2026-12-04: the old-pool export's in-corpus rows; starts when queue3 is done and the export exists.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
declare -A FOLDER=([EmoDB]=$DATA/emodb [URDU]=$DATA/urdu [nEMO]=$CORPORA/nEMO [ASED]=$CORPORA/ASED_V1 [BAVED]=$CORPORA/baved)
OLD=$RUNS/care_small_2k/encoder
while pgrep -f queue3.sh > /dev/null; do sleep 30; done
until [ -f $OLD/checksums.sha256 ]; do sleep 30; done
for c in EmoDB URDU ASED BAVED nEMO; do
  echo "=== $(date -u +%FT%TZ) $c $OLD"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/$c/emotion/train.py hparams/probe.yaml \
    --data_folder ${FOLDER[$c]} --encoder_source $OLD \
    --experiment_folder $RUNS/many_speakers/$c --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
done
echo "=== queue4 done $(date -u +%FT%TZ)"
