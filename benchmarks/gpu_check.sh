#!/usr/bin/env bash
# Every check the project owes a GPU, in one call of the device machine
# (the standing order of the developers' brief). Prepare here first:
#     python benchmarks/gpu_carry.py        # builds .gpu/ and .whl/ (git-ignored)
# then, on the GPU machine, from the repository root, with carry [.gpu, .whl]:
#     bash benchmarks/gpu_check.sh [ABLATION_STEPS]
# Writes every log and JSON to $OUT (or ./gpu_out) and prints a summary.
# Parts run in order, each with its own time limit; a failing part is reported
# and the next one runs:
#   1. the CUDA tests (bf16 training step of the encoder, frame targets on CUDA)
#   2. benchmarks/pretrain_throughput.py: care_base at 32 and 128 x 5 s, bf16
#      (the recipe's step and a plain loop in the same process)
#   3. benchmarks/encoder_speed.py: care_base extraction, bf16, batch 128,
#      against Hugging Face WavLM-base in the same process
#   4. benchmarks/targets.py: the on-the-fly frame targets on CUDA, 128 x 5 s;
#      benchmarks/finetune_throughput.py: care_base's emotion fine-tuning step, bf16
#   5. recipes/Pretrain/ablations.py: CARE-small pretraining ablations on
#      .gpu/pretrain (LJSpeech subset + FSDD), ABLATION_STEPS steps each, all in
#      parallel on the one GPU, then each export probed on .gpu/probe (EmoDB, URDU)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
STEPS=${1:-1500}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if ! python3 -c "import speechbrain" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$PWD/.whl/site" .whl/*.whl || exit 1
    export PYTHONPATH=$PWD/.whl/site
fi
# the MiniLM stand-in (benchmarks/gpu_carry.py) and this repository
export PYTHONPATH=$PWD/.gpu/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
# one data folder holding the pretraining and probing corpora (links)
mkdir -p .gpu/care_data && ln -sfn "$PWD"/.gpu/pretrain/* "$PWD"/.gpu/probe/* .gpu/care_data/
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers, speechbrain; print('torch', torch.__version__, 'transformers', transformers.__version__, 'speechbrain', speechbrain.__version__)"
  nproc; } 2>&1 | tee "$OUT/machine.txt"

part() {  # part NAME SECONDS COMMAND...   (SKIP="name ..." skips parts)
    local name=$1 limit=$2; shift 2
    case " ${SKIP:-} " in *" $name "*) echo "=== $name: skipped"; return;; esac
    local start=$SECONDS
    echo "=== $name (limit ${limit} s)"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local code=$?
    echo "=== $name: exit $code after $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
    tail -n 12 "$OUT/$name.log"
}

part cuda_tests 90 python3 -m pytest -q -rs -p no:cacheprovider -o addopts="" \
    tests/test_encoder.py::test_cuda_bf16_training_step tests/test_frame_targets.py::test_gpu_matches_cpu
part pretrain_throughput 150 python3 benchmarks/pretrain_throughput.py --config care_base \
    --batch 32 128 --device cuda --precision bf16 --steps 10 --warmup 3 --json "$OUT/pretrain_throughput.json"
part encoder_extract 80 python3 benchmarks/encoder_speed.py --config care_base --mode extract \
    --device cuda --precision bf16 --batch 128 --steps 10 --warmup 3 --baseline --peak_tflops 989 \
    --json "$OUT/encoder_extract.json"
part targets_cuda 60 python3 benchmarks/targets.py --backends vocal --device cuda \
    --data .gpu/care_data --steps 20 --warmup 3
# CARE-small's recipe step alone, to size the ablations' step budget
part small_throughput 60 python3 benchmarks/pretrain_throughput.py --config care_small \
    --batch 32 --device cuda --precision bf16 --steps 10 --warmup 3 --no_baseline --json "$OUT/small_throughput.json"
# the emotion fine-tuning step of hparams/finetune.yaml (shared and acoustic layers + head), care_base
part finetune_throughput 90 python3 benchmarks/finetune_throughput.py --config care_base \
    --batch 16 64 --seconds 5 --device cuda --precision bf16 --steps 10 --warmup 3 --json "$OUT/finetune_throughput.json"
if [ -z "${1:-}" ]; then  # steps that 7 parallel runs finish in about TRAIN_SECONDS
    STEPS=$(python3 -c "
import json, sys
try:
    step = json.load(open('$OUT/small_throughput.json'))[0]['recipe_step_s']
except Exception:
    step = 0.08
print(int(min(3000, max(200, ${TRAIN_SECONDS:-150} / (7 * step) * 1.3))))")
fi
echo "ablation steps: $STEPS" | tee -a "$OUT/summary.txt"
# what is left of DEADLINE (s since the start; the device call's limit less a margin)
part ablations $(( ${DEADLINE:-550} - SECONDS - 15 )) python3 recipes/Pretrain/ablations.py hparams/ablations.yaml \
    --data_folder .gpu/pretrain --steps "$STEPS" --output_folder .gpu/ablations \
    --probe EmoDB=.gpu/probe/emodb --probe URDU=.gpu/probe/urdu --parallel 7 --probe_parallel 10 \
    --train_args "--device cuda --precision bf16 --text_teacher null --text_cache_folder .gpu/text_targets --batch_size 32 --pad_to_crop True --warmup_steps 100 --ckpt_interval_minutes 1 --train_dataloader_opts '{num_workers: 2}' --valid_dataloader_opts '{batch_size: 32, num_workers: 2}' --log_interval 50" \
    --probe_args "--device cuda --extract_batch_size 32"
pkill -f "[r]ecipes/.*/train.py" 2>/dev/null  # [r]: never matches a shell quoting the pattern
python3 recipes/Pretrain/ablations.py hparams/ablations.yaml --data_folder .gpu/pretrain --steps "$STEPS" \
    --output_folder .gpu/ablations --probe EmoDB=.gpu/probe/emodb --probe URDU=.gpu/probe/urdu --table_only \
    > "$OUT/ablations_table.log" 2>&1
# what comes back (at most 8 files): the summary, the table, everything else in one archive
cp .gpu/ablations/ablations.md "$OUT/" 2>/dev/null
tar czf "$OUT/logs.tgz" "$OUT"/*.log "$OUT"/*.json "$OUT"/machine.txt \
    $(find .gpu/ablations -name train_log.txt -o -name stdout.log -o -name results.json -o -name results.md -o -name prepare.json -o -name ablations.json 2>/dev/null) 2>/dev/null
rm -f "$OUT"/*.log "$OUT"/*.json
cat "$OUT/summary.txt"
