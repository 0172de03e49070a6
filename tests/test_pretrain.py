"""The pretraining recipe end to end on generated audio: a few steps of
care_small, the export, DDP with two torchrun processes, and resuming after
SIGKILL. Each test starts ``recipes/Pretrain/train.py`` in a subprocess, as a
user would."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from speechbrain.dataio import audio_io

from care.lobes import load_encoder

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "recipes" / "Pretrain" / "train.py"
sys.path.insert(0, str(Path(__file__).parent))
from conftest import generated_clips  # noqa: E402

# Small and fast: 1 s crops, batches of 2, no loader workers.
FAST = [
    "--crop_seconds", "1.0", "--batch_size", "2", "--log_interval", "1",
    "--train_dataloader_opts", "{num_workers: 0}",
    "--valid_dataloader_opts", "{batch_size: 2, num_workers: 0}",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Generated speech-like audio of two 'speakers', with transcripts for
    some files (the others train the acoustic branch only)."""
    root = tmp_path_factory.mktemp("corpus")
    rows = ["file,text,speaker"]
    for index, clip in enumerate(generated_clips() * 2):
        name = f"utt{index}.wav"
        audio_io.save(str(root / name), clip.unsqueeze(0), 16000)
        text = f"generated sentence number {index}" if index % 3 else ""
        rows.append(f"{name},{text},spk{index % 4}")
    (root / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return root


def run_recipe(*args, env=None, launcher=(sys.executable,), **kwargs):
    command = [*launcher, str(TRAIN), "hparams/care_small.yaml", *args]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


def train_log_steps(output):
    """Optimizer steps of the per-interval lines of train_log.txt."""
    lines = (Path(output) / "train_log.txt").read_text().splitlines()
    return [int(line.split()[1]) for line in lines if line.startswith("step:")]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    result = run_recipe(
        "--data_folder", str(corpus), "--output_folder", str(output),
        "--optimizer_step_limit", "4", *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return output


def test_losses_logged_and_encoder_exported(trained):
    log = (trained / "train_log.txt").read_text()
    assert train_log_steps(trained) == [1, 2, 3, 4]
    for key in ("train acoustic", "train semantic", "train lr", "train audio_s_per_s"):
        assert key in log
    assert "valid acoustic" in log and "valid semantic" in log
    assert list((trained / "tensorboard").iterdir()), "no TensorBoard events"
    manifest = json.loads((trained / "manifests" / "prepare.json").read_text())
    assert manifest["counts"]["with_text"] == 6
    encoder = load_encoder(str(trained / "encoder"))
    checkpoints = sorted((trained / "save").glob("CKPT+*"))
    state = torch.load(checkpoints[-1] / "encoder.ckpt", map_location="cpu")
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(value, state[name], msg=name)
    with torch.no_grad():
        out = encoder(torch.randn(1, 16000))
    assert out.semantic.shape == (1, 384) and torch.isfinite(out.acoustic).all()


def test_finished_run_does_not_train_again(trained, corpus):
    """Starting a finished run again resumes at the step budget: no new steps."""
    before = train_log_steps(trained)
    result = run_recipe(
        "--data_folder", str(corpus), "--output_folder", str(trained),
        "--optimizer_step_limit", "4", *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert train_log_steps(trained) == before


def brain_step(checkpoint):
    """The optimizer step a checkpoint holds (brain.ckpt is YAML)."""
    return yaml.safe_load((checkpoint / "brain.ckpt").read_text())["optimizer_step"]


def test_resume_after_sigkill(corpus, tmp_path):
    """A run killed (SIGKILL) after an intra-epoch checkpoint continues from
    that checkpoint's step counter."""
    output = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, str(TRAIN), "hparams/care_small.yaml", "--data_folder", str(corpus),
         "--output_folder", str(output), "--optimizer_step_limit", "1000",
         "--ckpt_interval_steps", "2", "--ckpt_interval_minutes", "0", "--number_of_epochs", "1000", *FAST],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            done = [c for c in (output / "save").glob("CKPT+*") if (c / "CKPT.yaml").exists()]
            if done and max(brain_step(c) for c in done) >= 3:
                break
            assert process.poll() is None, "training stopped before a checkpoint"
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 300 s")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    saved = max(
        brain_step(c) for c in (output / "save").glob("CKPT+*") if (c / "CKPT.yaml").exists()
    )
    steps_before = train_log_steps(output)
    assert max(steps_before) >= saved
    result = run_recipe(
        "--data_folder", str(corpus), "--output_folder", str(output),
        "--optimizer_step_limit", str(saved + 2), "--ckpt_interval_steps", "2", "--ckpt_interval_minutes", "0", *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = train_log_steps(output)[len(steps_before):]
    assert resumed == [saved + 1, saved + 2]
    final = max(brain_step(c) for c in (output / "save").glob("CKPT+*"))
    assert final == saved + 2


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torchrun_two_processes_agree(corpus, tmp_path):
    """DDP through torchrun (gloo, CPU): both ranks end with the same weights."""
    output = tmp_path / "ddp"
    wrapper = tmp_path / "run_and_dump.py"
    wrapper.write_text(
        "import os, runpy, sys, torch\n"
        f"sys.argv = [{str(TRAIN)!r}] + sys.argv[1:]\n"
        f"scope = runpy.run_path({str(TRAIN)!r}, run_name='__main__')\n"
        "encoder = scope['brain'].modules.encoder\n"
        "encoder = getattr(encoder, 'module', encoder)\n"
        "rank = os.environ['RANK']\n"
        f"torch.save(encoder.state_dict(), os.path.join({str(output)!r}, f'rank{{rank}}.pt'))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={free_port()}", str(wrapper), "hparams/care_small.yaml",
         "--data_folder", str(corpus), "--output_folder", str(output),
         "--optimizer_step_limit", "3", "--distributed_backend", "gloo", *FAST],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    rank0 = torch.load(output / "rank0.pt")
    rank1 = torch.load(output / "rank1.pt")
    for name, value in rank0.items():
        torch.testing.assert_close(value, rank1[name], msg=name)
    assert train_log_steps(output) == [1, 2, 3]


def test_loss_baselines_of_a_run(trained, corpus):
    """The constant-predictor losses a log is read against: zero frames have
    the targets' mean square; the mean embedding's MSE is positive."""
    result = subprocess.run(
        [sys.executable, "recipes/Pretrain/loss_baselines.py", "hparams/care_small.yaml",
         "--data_folder", str(corpus), "--output_folder", str(trained), *FAST],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads(result.stdout[result.stdout.index("{"):])
    assert values["valid_utterances"] >= 1
    assert 0 < values["acoustic_predict_zero"] < 1  # (x - mean) / (std + 1) has mean square < 1
    assert values["semantic_predict_train_mean"] > 0
