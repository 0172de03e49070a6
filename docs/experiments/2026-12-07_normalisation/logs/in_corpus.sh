#!/usr/bin/env bash
# In-corpus runs of the plan (eGeMAPS and the random control; the export's rows: in_corpus_export.sh).
# Run from a checkout of the commit under test; DATA, CORPORA and RUNS as in PLAN.md. Resumable:
# finished folds and feature caches are reused.
set -u
cd "$(git rev-parse --show-toplevel)"
declare -A FOLDER=([EmoDB]=$DATA/emodb [URDU]=$DATA/urdu [BAVED]=$CORPORA/baved [ASED]=$CORPORA/ASED_V1 [nEMO]=$CORPORA/nEMO)
for corpus in ${CORPUS_LIST:-EmoDB URDU BAVED ASED nEMO}; do
  for encoder in ${ENCODERS:-egemaps random:care_small}; do
    for norm in none speaker corpus; do
      extra=""
      if [ "$corpus" = URDU ] && [ "$norm" = speaker ]; then
        # refused by the recipe (the plan records the refusal), then forced and marked
        python recipes/$corpus/emotion/train.py hparams/probe.yaml --data_folder ${FOLDER[$corpus]} \
          --encoder_source $encoder --feature_normalization speaker --noprogressbar \
          --experiment_folder $RUNS/normalisation/$corpus --export_classifier False
        echo "exit $? (refusal expected)"
        extra="--allow_single_label_speakers True"
      fi
      echo "=== $(date -u +%FT%T) $corpus $encoder $norm $extra"
      python recipes/$corpus/emotion/train.py hparams/probe.yaml --data_folder ${FOLDER[$corpus]} \
        --encoder_source $encoder --feature_normalization $norm $extra --noprogressbar \
        --experiment_folder $RUNS/normalisation/$corpus --export_classifier False
      echo "exit $?"
    done
  done
done
