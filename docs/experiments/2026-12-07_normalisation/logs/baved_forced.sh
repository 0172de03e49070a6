#!/usr/bin/env bash
# Added after the plan's runs started: BAVED's speaker normalisation was refused by the recipe (43 of its 59
# speakers speak a single level), which the plan expected of URDU only; it is run forced, as URDU is, and marked.
set -u
cd "$(git rev-parse --show-toplevel)"
for encoder in ${ENCODERS:-egemaps random:care_small}; do
  echo "=== $(date -u +%FT%T) BAVED $encoder speaker --allow_single_label_speakers True"
  python recipes/BAVED/emotion/train.py hparams/probe.yaml --data_folder $CORPORA/baved \
    --encoder_source $encoder --feature_normalization speaker --allow_single_label_speakers True --noprogressbar \
    --experiment_folder $RUNS/normalisation/BAVED --export_classifier False
  echo "exit $?"
done
