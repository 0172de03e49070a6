#!/usr/bin/env bash
# Session 2026-12-04 (fourth): the speaker diagnosis on nEMO as soon as the nEMO probes (queue8.sh) free a core
# (queue9.sh would reach it only after its head check; its own nEMO step was stopped by hand). Run from the repository root.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
while pgrep -f queue8.sh > /dev/null; do sleep 20; done
echo "# $(date -u +%FT%TZ) nEMO random-care_small-mean_std runs-care_small_pool_2k-encoder-mean_std runs-care_small_2k-encoder-mean_std"
OMP_NUM_THREADS=1 python benchmarks/speaker_confound.py nEMO random-care_small-mean_std runs-care_small_pool_2k-encoder-mean_std \
  runs-care_small_2k-encoder-mean_std --experiment_folder "$RUNS/many_speakers" 2>&1 | grep --line-buffered -v "it/s\]"
echo "# queue10 done $(date -u +%FT%TZ)"
