"""Atomic file writes: a reader never sees a half-written cache, manifest,
checkpoint or export, and an interrupted write leaves only a temp file that is
ignored and overwritten next time.

Example
-------
>>> import os, tempfile, torch
>>> folder = tempfile.mkdtemp()
>>> save_torch({"x": torch.ones(2)}, os.path.join(folder, "a.pt"))
>>> torch.load(os.path.join(folder, "a.pt"))["x"].shape
torch.Size([2])
>>> write_text(os.path.join(folder, "b.txt"), "hello")
>>> open(os.path.join(folder, "b.txt")).read()
'hello'

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import contextlib
import json
import os
import tempfile

import torch

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; on success it is fsynced and
    renamed onto ``path`` (atomic on POSIX), on error it is removed.

    Arguments
    ---------
    path : str
        Final destination. Its folder is created if needed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path) + ".", suffix=TEMP_SUFFIX
    )
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; files should read like open()'s
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_torch(obj, path):
    """``torch.save`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_text(path, text):
    """Writes ``text`` (UTF-8) through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json(path, obj):
    """Writes ``obj`` as indented JSON through :func:`atomic_path`."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
