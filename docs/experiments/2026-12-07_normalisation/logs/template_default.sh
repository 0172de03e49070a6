#!/usr/bin/env bash
# The template README's "Measured" run under the default speaker normalisation: the README's EmoDB CSV,
# the template's default run, then care-classify with each speaker's files together. DATA set; writes
# into OUT (default ./template_default); REPO: this repository (default: the one holding this script).
set -u
REPO=${REPO:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)}
mkdir -p "${OUT:-template_default}" && cd "${OUT:-template_default}"
python - <<PY
import csv, glob, os
root = "$DATA/emodb"
emotions = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
            "T": "sadness", "N": "neutral"}
with open("emodb.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["path", "label", "speaker"])
    for path in sorted(glob.glob(f"{root}/wav/*.wav")):
        name = os.path.basename(path)
        writer.writerow([f"wav/{name}", emotions[name[5]], name[:2]])
PY
echo "=== $(date -u +%FT%TZ) template, EmoDB, egemaps, default normalisation"
/usr/bin/time -f "wall %e s" python $REPO/templates/emotion_probe/train.py hparams/probe.yaml --data_folder $DATA/emodb \
    --csv_file emodb.csv --dataset EmoDB --encoder_source egemaps --experiment_folder results --noprogressbar
echo "=== $(date -u +%FT%TZ) care-classify, each speaker's files together"
cd $DATA/emodb && /usr/bin/time -f "wall %e s" python -m care.cli --source $OLDPWD/results/egemaps-speaker_norm/classifier wav \
    --speaker_csv $OLDPWD/emodb.csv --output $OLDPWD/labels.txt
echo "exit $?"
