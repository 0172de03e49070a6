"""The benchmark scripts ``benchmarks/gpu_check.sh`` runs on a GPU machine,
run here on CPU at their smallest size: a script that the code has moved
under fails here, not in a GPU session's few minutes (the fine-tuning
benchmark once built its head for mean pooling after the recipes' default
became mean_std). Their figures are not checked: speed is shown in
BENCHMARKS.md, never asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALLEST = ["--config", "care_small", "--batch", "1", "--seconds", "1", "--steps", "1", "--warmup", "0"]
SCRIPTS = {
    "finetune_throughput": ["benchmarks/finetune_throughput.py", *SMALLEST, "--device", "cpu",
                            "--precision", "fp32"],
    "pretrain_throughput": ["benchmarks/pretrain_throughput.py", *SMALLEST, "--device", "cpu",
                            "--precision", "fp32", "--no_baseline"],
    "encoder_extract": ["benchmarks/encoder_speed.py", *SMALLEST, "--mode", "extract", "--device", "cpu"],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_gpu_check_scripts_run_on_cpu(name, tmp_path):
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, *SCRIPTS[name], "--json", str(out)], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    text = out.read_text()
    rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(line) for line in text.splitlines()]
    assert rows and rows[0]["config"] == "care_small"
    speed = rows[0].get("audio_s_per_s", rows[0].get("recipe_audio_s_per_s"))
    assert speed is not None and speed > 0, rows[0]
