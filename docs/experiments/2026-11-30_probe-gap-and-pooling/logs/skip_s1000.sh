#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# to finish within the session, the EmoDB step-1,000 linear_concat probe is stopped as soon as it starts
# (probe_concat.sh then logs "done EmoDB care_small_2k-encoder_step1000" although it did not run).
for i in $(seq 1 2000); do
  pid=$(pgrep -f "emodb --encoder_source $RUNS/care_small_2k/encoder_step1000 --probe_head linear_concat")
  if [ -n "$pid" ]; then kill $pid; echo "$(date +%H:%M) stopped EmoDB step1000 linear_concat ($pid)"; exit 0; fi
  sleep 2
done
