"""Probe folds resume exactly and their checkpoints appear atomically: a fold
interrupted between epochs, or killed while a checkpoint file is written,
ends with the result of the run that was never interrupted."""

import functools

import pytest
import torch
import yaml
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.train_logger import FileTrainLogger

import care.probing.run as run
from care.lobes import EmotionProbe
from care.probing.brain import ProbeBrain

LABELS = ["angry", "happy", "sad"]


@pytest.fixture(scope="module")
def fold():
    """Noisy features of three classes, split into train / valid / test."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(len(LABELS), 2, 8, generator=generator)
    features, data = {}, {}
    for index in range(90):
        label = index % len(LABELS)
        features[f"u{index:02d}"] = centres[label] + 1.5 * torch.randn(2, 8, generator=generator)
        data[f"u{index:02d}"] = {"label": LABELS[label]}
    ids = sorted(features)
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(LABELS)
    encoder.expect_len(len(LABELS))
    return features, data, encoder, (ids[:54], ids[54:72], ids[72:])


def train_fold(fold, folder):
    features, data, encoder, sets = fold
    hparams = {
        "probe": functools.partial(EmotionProbe, hidden_dim=16, dropout=0.5),
        "epoch_counter": functools.partial(EpochCounter, limit=8),
        "opt_class": functools.partial(torch.optim.AdamW, lr=3e-3),
        "compute_cost": torch.nn.functional.cross_entropy,
        "train_logger": FileTrainLogger,
        "batch_size": 8,
        "noprogressbar": True,
    }
    dims = {"num_layers": 2, "input_dim": 8, "num_classes": len(LABELS), "layers": [0, 1]}
    head = dict(run.probe_settings(hparams), refit=True)  # selection, then the refit probe
    task = run.ProbeTask(hparams, {"device": "cpu"}, features, data, encoder, dims, head)
    result = run._train_fold(task, sets, 3, "f1", str(folder))
    return {k: v for k, v in result.items() if k != "seconds"}


@pytest.fixture(scope="module")
def uninterrupted(fold, tmp_path_factory):
    return train_fold(fold, tmp_path_factory.mktemp("uninterrupted"))


def saved_epochs(folder):
    return sorted(
        yaml.safe_load((c / "CKPT.yaml").read_text())["epoch"]
        for c in folder.glob("CKPT+*") if (c / "CKPT.yaml").exists()
    )  # fmt: skip


def test_probe_fold_resume_is_exact(fold, uninterrupted, tmp_path, monkeypatch):
    """Reproduction: a fold interrupted mid-training and started again drew
    other dropout masks after the resume (the RNG state was not checkpointed)
    and could select another epoch. Now it ends exactly as the uninterrupted run."""
    start = ProbeBrain.on_stage_start

    def interrupted(self, stage, epoch=None):
        if stage.name == "TRAIN" and epoch == 6:
            raise KeyboardInterrupt("killed before epoch 6")
        return start(self, stage, epoch)

    monkeypatch.setattr(ProbeBrain, "on_stage_start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_fold(fold, tmp_path)
    monkeypatch.undo()
    assert saved_epochs(tmp_path), "no checkpoint to resume from"
    assert max(saved_epochs(tmp_path)) < 6
    assert train_fold(fold, tmp_path) == uninterrupted


def test_probe_checkpoint_atomic(fold, uninterrupted, tmp_path, monkeypatch):
    """Reproduction: a kill while probe.ckpt was written (after CKPT.yaml, as
    SpeechBrain's Checkpointer orders them) left a checkpoint every rerun
    failed to load ("PytorchStreamReader failed reading zip archive"). Now the
    torn checkpoint is ignored and removed, and the rerun resumes exactly."""
    save, calls = torch.save, []

    def torn_save(obj, path, *args, **kwargs):
        if str(path).endswith("probe.ckpt"):
            calls.append(path)
            if len(calls) == 2:
                with open(path, "wb") as handle:
                    handle.write(b"PK\x03\x04 torn")  # the start of a zip, then the kill
                raise KeyboardInterrupt("killed while writing probe.ckpt")
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        train_fold(fold, tmp_path)
    monkeypatch.undo()
    assert len(list(tmp_path.glob("CKPT+*"))) == 2  # the complete one and the torn one
    assert train_fold(fold, tmp_path) == uninterrupted
    assert all((c / "CKPT.yaml").exists() for c in tmp_path.glob("CKPT+*"))
