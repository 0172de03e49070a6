#!/usr/bin/env bash
# Session 2026-12-04 (fourth): the old-pool export's nEMO row alone (queue6's other corpora are done; its folds resume).
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
OLD=$RUNS/care_small_2k/encoder
echo "=== $(date -u +%FT%TZ) nEMO $OLD"
OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/nEMO/emotion/train.py hparams/probe.yaml \
  --data_folder $CORPORA/nEMO --encoder_source $OLD \
  --experiment_folder $RUNS/many_speakers/nEMO --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
echo "=== queue8 done $(date -u +%FT%TZ)"
