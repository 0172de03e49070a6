"""Checkpoints appear atomically: a save interrupted between files leaves
nothing that recovery would load."""

import torch

from care.checkpoints import AtomicCheckpointer


class Exploding(torch.nn.Module):
    """Saving it fails, as a kill in the middle of a checkpoint would."""

    def __init__(self):
        super().__init__()
        self.explode = False
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def state_dict(self, *args, **kwargs):
        if self.explode:
            raise KeyboardInterrupt("killed while saving")
        return super().state_dict(*args, **kwargs)


def test_interrupted_save_is_invisible_and_cleaned(tmp_path):
    model, bomb = torch.nn.Linear(2, 2), Exploding()
    checkpointer = AtomicCheckpointer(tmp_path, {"a_model": model, "b_bomb": bomb})
    first = checkpointer.save_checkpoint(meta={"step": 1})
    bomb.explode = True
    try:
        checkpointer.save_checkpoint(meta={"step": 2})
    except KeyboardInterrupt:
        pass
    folders = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(folders) == 2  # the half-written one is on disk...
    assert checkpointer.find_checkpoint().meta["step"] == 1  # ...but never loaded
    assert checkpointer.find_checkpoint().path == first.path
    bomb.explode = False
    checkpointer.save_checkpoint(meta={"step": 3}, name="later")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([first.path.name, "CKPT+later"])  # stale folder removed
    assert checkpointer.find_checkpoint(max_key="step").meta["step"] == 3


def test_save_and_keep_only_costs_the_same_at_every_call(tmp_path, monkeypatch):
    """Reproduction: SpeechBrain 1.1.2's ``save_and_keep_only`` appends to its
    shared default ``importance_keys=[]``, so the n-th save of a process
    scanned the checkpoints about 2n times (the suite's probing tests spent
    most of their time there). Each save now scans them as often as the first, and what is kept
    is unchanged: the best by ``max_keys`` and the most recent."""
    checkpointer = AtomicCheckpointer(tmp_path, {"model": torch.nn.Linear(2, 2)})
    scans, original = [], AtomicCheckpointer.find_checkpoints
    def counting(self, *args, **kwargs):
        scans[-1] += 1
        return original(self, *args, **kwargs)
    monkeypatch.setattr(AtomicCheckpointer, "find_checkpoints", counting)
    for step, score in enumerate([0.5, 0.9, 0.7, 0.6, 0.8, 0.4]):
        scans.append(0)
        checkpointer.save_and_keep_only(meta={"score": score, "step": step}, max_keys=["score"])
    assert len(set(scans)) == 1, scans
    kept = sorted(c.meta["step"] for c in checkpointer.list_checkpoints())
    assert kept == [1, 5]  # the best (0.9) and the latest
