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
from pathlib import Path

import pytest
import torch
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


# One thread: the run is then bit-for-bit reproducible (resume test).
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    result = run_recipe(
        "--data_folder", str(corpus), "--output_folder", str(output),
        "--optimizer_step_limit", "4", *FAST, env=ONE_THREAD,
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


# Kills the recipe (SIGKILL, from inside) right after its checkpoint at this
# optimizer step is complete: the moment is chosen, not raced.
KILL_AFTER_CHECKPOINT = """
import os, runpy, signal, sys, yaml
from care.checkpoints import AtomicCheckpointer
save = AtomicCheckpointer.save_checkpoint
def save_then_die(self, *args, **kwargs):
    checkpoint = save(self, *args, **kwargs)
    if checkpoint is not None and (checkpoint.path / "brain.ckpt").exists():
        step = yaml.safe_load((checkpoint.path / "brain.ckpt").read_text())["optimizer_step"]
        if step == int(os.environ["KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)
    return checkpoint
AtomicCheckpointer.save_checkpoint = save_then_die
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def logged_losses(output):
    """``{step: line}`` of train_log.txt's per-step lines, without the
    throughput (which is timing, not training)."""
    losses = {}
    for line in (Path(output) / "train_log.txt").read_text().splitlines():
        if line.startswith("step:"):
            fields = [f for f in line.split(", ") if "audio_s_per_s" not in f]
            losses[int(line.split()[1].rstrip(","))] = ", ".join(fields)
    return losses


def assert_same_export(output, expected):
    """The encoders exported by two runs are bit-identical."""
    exported, expected = (
        torch.load(folder / "encoder" / "encoder.ckpt", weights_only=True) for folder in (output, expected)
    )  # fmt: skip
    for name, value in expected.items():
        assert torch.equal(exported[name], value), name


def test_resume_after_sigkill_is_exact(trained, corpus, tmp_path):
    """Reproduction: a run killed mid-epoch and started again resumed its step
    counter but not its random-number state, so its losses differed from the
    step after the checkpoint on and its exported weights by up to 2e-3. Now,
    on one thread, killed (SIGKILL) right after its step-2 checkpoint and
    started again with the same command, it logs the same losses and exports
    bit-identical weights to the uninterrupted run (`trained`)."""
    output = tmp_path / "run"
    args = ["--data_folder", str(corpus), "--output_folder", str(output),
            "--optimizer_step_limit", "4", "--ckpt_interval_steps", "1",
            "--ckpt_interval_minutes", "0", *FAST]  # fmt: skip
    killed = run_recipe(
        *args, launcher=(sys.executable, "-c", KILL_AFTER_CHECKPOINT),
        env=dict(ONE_THREAD, KILL_AT_STEP="2"),
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(logged_losses(output)) == 2 and not (output / "encoder").exists()
    resumed = run_recipe(*args, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert train_log_steps(output) == [1, 2, 3, 4]  # resumed at 3, not started again
    assert logged_losses(output) == logged_losses(trained)
    assert_same_export(output, trained)


# The long runs' loader: batches of about the same audio, one loader worker.
DYNAMIC = [
    "--crop_seconds", "1.0", "--batch_size", "null", "--log_interval", "1",
    "--dynamic_batch_options", "{max_batch_length: 3, num_buckets: 2, shuffle: True, batch_ordering: random, seed: 1986}",
    "--valid_dataloader_opts", "{batch_size: 2, num_workers: 0}",
    "--optimizer_step_limit", "9", "--ckpt_interval_steps", "1", "--ckpt_interval_minutes", "0",
]


def test_resume_with_dynamic_batches_and_a_worker_is_exact(corpus, tmp_path):
    """Reproduction: with dynamic batches and a loader worker (the documented
    long-run command), a run killed in its second epoch and started again
    drew other crops after the resume (the worker's generator is seeded
    afresh), so its losses differed from the next step on. Crops are now
    drawn from (seed, epoch, utterance): killed (SIGKILL) at step 5 and
    resumed with one worker, it logs the losses and exports the weights of an
    uninterrupted run without workers."""
    reference = tmp_path / "reference"
    result = run_recipe("--data_folder", str(corpus), "--output_folder", str(reference), *DYNAMIC,
                        "--train_dataloader_opts", "{num_workers: 0}", env=ONE_THREAD)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    epochs = [line for line in (reference / "train_log.txt").read_text().splitlines() if line.startswith("epoch")]
    assert len({line.split(",")[0] for line in epochs}) >= 3, "the run should span three epochs"
    output = tmp_path / "run"
    args = ["--data_folder", str(corpus), "--output_folder", str(output), *DYNAMIC,
            "--train_dataloader_opts", "{num_workers: 1}"]  # fmt: skip
    killed = run_recipe(*args, launcher=(sys.executable, "-c", KILL_AFTER_CHECKPOINT),
                        env=dict(ONE_THREAD, KILL_AT_STEP="5"))  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(logged_losses(output)) == 5
    resumed = run_recipe(*args, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert logged_losses(output) == logged_losses(reference)
    assert_same_export(output, reference)


def test_persistent_workers_are_refused(corpus, tmp_path):
    result = run_recipe("--data_folder", str(corpus), "--output_folder", str(tmp_path / "run"), *FAST[:6],
                        "--train_dataloader_opts", "{num_workers: 1, persistent_workers: True}")  # fmt: skip
    assert result.returncode != 0 and "persistent_workers would keep" in result.stderr
    assert "Traceback" not in result.stderr


def test_user_mistakes_are_one_line_without_a_traceback(tmp_path):
    """Reproductions: a missing --data_folder, and care_base offline (its
    models are neither in the hub cache nor local folders), ended in
    tracebacks. Each is now one line; the model error says where care_base's
    models come from and that care_small runs offline. Offline throughout
    (conftest sets HF_HUB_OFFLINE; the hub ids do not exist)."""
    base = [sys.executable, str(TRAIN), "hparams/care_base.yaml", "--data_folder", str(tmp_path),
            "--output_folder", str(tmp_path / "run")]  # fmt: skip
    cases = (
        (run_recipe("--data_folder", str(tmp_path / "missing"), "--output_folder", str(tmp_path / "run")),
         f"data_folder {tmp_path / 'missing'} does not exist"),
        *((subprocess.run(base + extra, cwd=REPO, capture_output=True, text=True, timeout=600),
           "care_base needs microsoft/wavlm-base and roberta-base")
          for extra in (["--speech_source", "no-such-owner/no-such-model"],
                        ["--speech_source", str(tmp_path / "no_such_folder")])),
    )  # fmt: skip
    for result, problem in cases:
        assert result.returncode == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("train.py: error: ") and problem in last, last
    assert "care_small.yaml needs no download and runs offline" in last


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
