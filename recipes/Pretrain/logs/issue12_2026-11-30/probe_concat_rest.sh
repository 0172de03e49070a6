#!/bin/bash
# Issue 12: after probe_concat2.sh, the rest of probe_concat.sh (it skips finished runs and resumes finished folds).
while pgrep -f probe_concat2.sh > /dev/null; do sleep 30; done
exec bash /work/runs/probe_concat.sh
