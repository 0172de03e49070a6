"""Atomic file writes: a reader never sees a half-written cache, manifest,
checkpoint or export, and an interrupted write leaves only a temp file that is
ignored and overwritten next time. And :func:`fingerprint`, the one
identity of input files (name, size, modification time) that every
preparation and cache is keyed by.

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
import hashlib
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


def file_stat(path):
    """``(size, mtime_ns)`` of ``path`` (of a broken link or a link loop: the
    link's own, so that it can be skipped later with its reason)."""
    try:
        stat = os.stat(path)
    except OSError:
        stat = os.lstat(path)
    return stat.st_size, stat.st_mtime_ns


def fingerprint(files, extra=None):
    """A SHA-256 identifying ``files`` by name, size and modification time:
    it changes when a file is added, removed, replaced or edited, or when
    ``extra`` changes. Preparation records, feature caches, frame-target and
    text-target caches are all keyed by it.

    Arguments
    ---------
    files : dict
        ``{name: path}``; the name is what the hash records for the file (a
        path relative to the data folder, so that the data can move; an
        utterance id; an absolute path).
    extra : JSON-serialisable, optional
        Whatever else the result depends on (extractor settings, folders
        that could not be read).

    Returns
    -------
    str
        Hex digest.

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_text(os.path.join(folder, "a.txt"), "hello")
    >>> key = fingerprint({"a.txt": os.path.join(folder, "a.txt")})
    >>> key == fingerprint({"a.txt": os.path.join(folder, "a.txt")}), len(key)
    (True, 64)
    >>> key == fingerprint({"a.txt": os.path.join(folder, "a.txt")}, extra={"n_mfcc": 13})
    False
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        size, mtime_ns = file_stat(files[name])
        digest.update(f"{name}\0{size}\0{mtime_ns}\n".encode())
    if extra is not None:
        digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()
