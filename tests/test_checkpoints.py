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
