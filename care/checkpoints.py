"""A SpeechBrain ``Checkpointer`` whose checkpoints appear atomically, and
the random-number state as a recoverable, so that resuming is exact.

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
        recoverables: {..., random_state: !ref <random_state>}

:class:`RandomState` saves the generators' states (Python, NumPy, torch CPU
and CUDA, and the training loader's own generator); restored with the rest, a
run killed and started again draws the same random numbers (crops, dropout)
as the run that was never interrupted.

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
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
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

    def save_and_keep_only(self, meta=None, end_of_epoch=True, name=None, num_to_keep=1, keep_recent=True,
                           importance_keys=(), max_keys=(), min_keys=(), ckpt_predicate=None,
                           verbosity=logging.INFO):
        """``Checkpointer.save_and_keep_only`` with fresh argument lists on
        every call. SpeechBrain 1.1.2 appends ``ckpt_recency`` to its default
        ``importance_keys=[]``, one list shared by every call of the process,
        so each save scanned every checkpoint's ``CKPT.yaml`` once more per
        earlier save (an EmoDB probing run, 3 seeds x 10 folds: 24 % of its
        time; see BENCHMARKS.md)."""
        super().save_and_keep_only(
            meta={} if meta is None else meta, end_of_epoch=end_of_epoch, name=name,
            num_to_keep=num_to_keep, keep_recent=keep_recent, importance_keys=list(importance_keys),
            max_keys=list(max_keys), min_keys=list(min_keys), ckpt_predicate=ckpt_predicate,
            verbosity=verbosity,
        )

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


@register_checkpoint_hooks
class RandomState:
    """A checkpoint recoverable: the states of Python's ``random``, NumPy's
    global generator, torch's CPU and CUDA generators, and of a generator
    for the training data loader.

    SpeechBrain restores the model, optimizer, counters and the position in
    the epoch, but not these: after a resume, random crops and dropout masks
    differ from those of the uninterrupted run. With this recoverable, and
    ``loader_generator`` given to the training loader (``generator=``: then
    starting an epoch's loader, which a resumed run does at another moment,
    draws from it rather than from the global generator), a resumed run on
    one thread without loader workers is bit-identical to the uninterrupted
    one. Loader workers are seeded afresh when a loader restarts, so what
    they draw from a running generator after a resume is new: the
    pretraining's crops therefore come from ``care.pretraining.CropDraws``
    (drawn from seed, epoch and utterance), which makes a resumed run with
    workers exact too.

    The main process's states are saved; under DDP every process restores
    them (all start from the same seed anyway).

    Arguments
    ---------
    seed : int, optional
        Seed of ``loader_generator`` (None: no loader generator).

    Example
    -------
    >>> import tempfile
    >>> state = RandomState(seed=3)
    >>> checkpointer = Checkpointer(tempfile.mkdtemp(), {"random_state": state})
    >>> _ = torch.manual_seed(1)
    >>> _ = checkpointer.save_checkpoint()
    >>> def draws():
    ...     return (random.random(), np.random.rand(), torch.rand(1).item(),
    ...             torch.rand(1, generator=state.loader_generator).item())
    >>> first = draws()
    >>> _ = checkpointer.recover_if_possible()
    >>> draws() == first
    True
    """

    def __init__(self, seed=None):
        self.loader_generator = None if seed is None else torch.Generator().manual_seed(seed)

    @mark_as_saver
    def save(self, path):
        """Writes the states (tensors and lists: loadable with ``weights_only``)."""
        version, python_state, gauss = random.getstate()
        kind, keys, position, has_gauss, cached = np.random.get_state()
        state = {
            "python": [version, list(python_state), gauss],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loader": None if self.loader_generator is None else self.loader_generator.get_state(),
        }
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=True):
        """Restores the states saved by :meth:`save`."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        version, python_state, gauss = state["python"]
        random.setstate((version, tuple(python_state), gauss))
        kind, keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            if len(state["cuda"]) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(state["cuda"])
            else:
                logger.warning(
                    "%s: saved with %d CUDA devices, %d now: CUDA generators not restored",
                    path, len(state["cuda"]), torch.cuda.device_count(),
                )
        if self.loader_generator is not None and state["loader"] is not None:
            self.loader_generator.set_state(state["loader"])
