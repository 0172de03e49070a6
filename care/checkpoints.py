"""A SpeechBrain ``Checkpointer`` whose checkpoints appear atomically.

SpeechBrain 1.1.2 writes a checkpoint's ``CKPT.yaml`` (the file that makes a
folder count as a checkpoint) *before* the parameter files, so a process
killed while saving leaves a folder that looks complete, and the next run
fails loading it. Here ``CKPT.yaml`` is written under a temporary name and
renamed into place only after every parameter file is on disk: a killed save
leaves a folder without ``CKPT.yaml``, which recovery ignores and the next
save of this checkpointer removes.

Use it in YAML exactly like SpeechBrain's::

    checkpointer: !new:care.checkpoints.AtomicCheckpointer
        checkpoints_dir: !ref <save_folder>
        recoverables: {...}

Example
-------
>>> import tempfile, torch
>>> model = torch.nn.Linear(2, 2)
>>> checkpointer = AtomicCheckpointer(tempfile.mkdtemp(), {"model": model})
>>> checkpoint = checkpointer.save_checkpoint(meta={"step": 3})
>>> sorted(p.name for p in checkpoint.path.iterdir())
['CKPT.yaml', 'model.ckpt']
>>> checkpointer.find_checkpoint().meta["step"]
3

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import logging
import os
import shutil

from speechbrain.utils.checkpoints import CKPT_PREFIX, METAFNAME, Checkpointer
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

PENDING = ".pending"


class AtomicCheckpointer(Checkpointer):
    """``speechbrain.utils.checkpoints.Checkpointer`` with atomic checkpoints
    (same arguments)."""

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, verbosity=logging.INFO):
        """Saves a checkpoint (see ``Checkpointer.save_checkpoint``); it
        becomes visible only once complete."""
        if if_main_process():
            self._remove_incomplete()
        checkpoint = super().save_checkpoint(meta, end_of_epoch, name, verbosity)
        if checkpoint is not None:  # main process
            pending = checkpoint.path / (METAFNAME + PENDING)
            for path in checkpoint.path.iterdir():  # parameter files reach the disk first
                if path.is_file():
                    with open(path, "rb") as handle:
                        os.fsync(handle.fileno())
            os.replace(pending, checkpoint.path / METAFNAME)
        return checkpoint

    def _save_checkpoint_metafile(self, fpath, meta_to_include={}, end_of_epoch=True):
        return super()._save_checkpoint_metafile(
            fpath.with_name(fpath.name + PENDING), meta_to_include, end_of_epoch
        )

    def _remove_incomplete(self):
        """Deletes checkpoint folders a killed save left without ``CKPT.yaml``."""
        if not self.checkpoints_dir.is_dir():
            return
        for path in self.checkpoints_dir.iterdir():
            if path.is_dir() and path.name.startswith(CKPT_PREFIX) and not (path / METAFNAME).exists():
                logger.warning("Removing incomplete checkpoint %s (interrupted save)", path)
                shutil.rmtree(path, ignore_errors=True)
