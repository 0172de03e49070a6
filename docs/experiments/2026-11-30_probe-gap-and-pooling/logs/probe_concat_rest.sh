#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# after probe_concat2.sh, the rest of probe_concat.sh (it skips finished runs and resumes finished folds).
while pgrep -f probe_concat2.sh > /dev/null; do sleep 30; done
exec bash "$(dirname "$0")/probe_concat.sh"  # the script beside this one
