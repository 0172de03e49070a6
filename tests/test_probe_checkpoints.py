"""Probe folds resume exactly and their checkpoints appear atomically: a fold
interrupted between epochs, or killed while a checkpoint file is written,
ends with the result of the run that was never interrupted."""

import functools

import pytest
import torch
import yaml
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.train_logger import FileTrainLogger

from care.lobes import EmotionProbe
from care.probing import loop
from care.probing.brain import ProbeBrain
from care.probing.categorical import CategoricalTask

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
    return features, data, (ids[:54], ids[54:72], ids[72:])


def train_fold(fold, folder):
    features, data, sets = fold
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
    head = dict(loop.probe_settings(hparams), refit=True)  # selection, then the refit probe
    task = CategoricalTask(hparams, data)
    experiment = loop.Experiment(hparams, {"device": "cpu"}, features, data, task, dims, head)
    result = loop.train_fold(experiment, sets, 3, "f1", str(folder))
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


def test_checkpoint_folder_names_unchanged(tmp_path):
    """A run resumes from the checkpoints of an earlier one only if its folder
    name (``run-<hash>`` or ``dim-<hash>`` of what shapes the run) is the same:
    these names, computed before the categorical and dimensional runners
    became one loop, must not change."""
    from care.lobes import AuthorsProbe
    from care.probing.dimensional import DimensionalTask

    (tmp_path / "prepare.json").write_text('{"options": {"task": "dimensional"}}')
    data = {"u1": {"label": "a", "arousal": 1.0, "valence": 2.0},
            "u2": {"label": "b", "arousal": 3.0, "valence": 1.0}}
    heads = [
        {"probe": functools.partial(EmotionProbe, hidden_dim=256),
         "opt_class": functools.partial(torch.optim.AdamW, lr=1e-3),
         "epoch_counter": functools.partial(EpochCounter, limit=30), "refit": True, "members": 1},
        {"probe": functools.partial(EmotionProbe, num_hidden_layers=0),
         "opt_class": functools.partial(torch.optim.Adam, lr=1e-2),
         "epoch_counter": functools.partial(EpochCounter, limit=50), "refit": True,
         "balance_classes": True, "members": 5},
        {"probe": AuthorsProbe, "opt_class": functools.partial(torch.optim.Adam, lr=1e-4),
         "epoch_counter": functools.partial(EpochCounter, limit=20)},
    ]
    protocols = [{"name": "speaker_independent"}, {"name": "emobox", "files": "abc123"}]
    names = []
    for head in heads:
        for protocol in protocols:
            hparams = {"encoder_source": "random:care_small", "batch_size": 32, "num_valid_folds": 1,
                       "emobox_valid_fraction": 0.2, "seed": 7, "prepare_folder": str(tmp_path),
                       "head": head}
            settings = loop.probe_settings(hparams)
            for task in (CategoricalTask(hparams, data), DimensionalTask(hparams, data)):
                names.append(loop.signature(hparams, task, "feat/x.pt", [1, 2], settings, protocol))
    assert names == [
        "run-771d5fcae1", "dim-1cbd5fa3f6", "run-223f677f0f", "dim-067824fc02",
        "run-686e2e3718", "dim-e183d53de0", "run-9d553a5e8d", "dim-ef45e85da0",
        "run-510dea8512", "dim-d44401a5a0", "run-9901679f8d", "dim-37beb2933f",
    ]
