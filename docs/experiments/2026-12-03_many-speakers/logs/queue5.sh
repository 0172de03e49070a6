#!/usr/bin/env bash
# Session 2026-12-04 (third): the nEMO rows left by queue3 (the new export resumes its folds), then the random control.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
NEW=$RUNS/care_small_pool_2k/encoder
for enc in $NEW random:care_small; do
  echo "=== $(date -u +%FT%TZ) nEMO $enc"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/nEMO/emotion/train.py hparams/probe.yaml \
    --data_folder $CORPORA/nEMO --encoder_source $enc \
    --experiment_folder $RUNS/many_speakers/nEMO --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
done
echo "=== queue5 done $(date -u +%FT%TZ)"
