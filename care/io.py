"""Atomic file writes: a reader never sees a half-written cache, manifest,
checkpoint or export, and an interrupted write leaves only a temp file that is
ignored and overwritten next time. :func:`atomic_folder` does the same for a
folder of files that belong together (an exported model), with a
``checksums.sha256`` that :func:`verify_checksums` checks on loading. And
:func:`fingerprint`, the one identity of input files (name, size,
modification time) that every preparation and cache is keyed by.

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
import glob
import hashlib
import json
import os
import shutil
import tempfile

import torch
from speechbrain.utils.logger import get_logger

try:
    import fcntl
except ImportError:  # Windows: exports are not locked against each other
    fcntl = None

logger = get_logger(__name__)

TEMP_SUFFIX = ".tmp"
# The SHA-256 of every file of a folder written by atomic_folder, in the
# format of `sha256sum` (`sha256sum -c checksums.sha256` checks it too).
CHECKSUMS_FILE = "checksums.sha256"


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


@contextlib.contextmanager
def atomic_folder(folder, marker=None):
    """Yields a temporary folder beside ``folder`` to write files into; on
    success their SHA-256 go to ``checksums.sha256`` and the temporary folder
    replaces ``folder`` (the old one renamed away, the new one renamed in,
    the old one removed), so that ``folder`` holds either all old or all new
    files. On error the temporary folder is removed and ``folder`` is
    untouched; a kill leaves it as a hidden sibling, ignored (a kill between
    the two renames: :func:`restore_folder` puts a folder back on the next
    export or load). Concurrent exports to one folder take turns at the swap
    (:func:`folder_lock`): the last one wins. A ``folder`` that is a file or
    a symbolic link is refused before anything is written.

    Arguments
    ---------
    folder : str
        The destination; its parent is created if needed.
    marker : str, optional
        A file an existing ``folder`` must hold to be replaced (e.g. an
        export's ``hyperparams.yaml``), so that a mistyped destination never
        deletes a folder of other files. An empty folder is always replaced.

    Example
    -------
    >>> folder = os.path.join(tempfile.mkdtemp(), "model")
    >>> with atomic_folder(folder) as tmp:
    ...     write_text(os.path.join(tmp, "a.txt"), "hello")
    >>> sorted(os.listdir(folder))
    ['a.txt', 'checksums.sha256']
    >>> verify_checksums(folder, {"a.txt": os.path.join(folder, "a.txt")})
    True
    """
    folder = os.path.abspath(os.fspath(folder))
    parent, name = os.path.split(folder)
    os.makedirs(parent, exist_ok=True)
    with folder_lock(folder):
        restore_folder(folder, locked=True)
        _check_replaceable(folder, marker)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=TEMP_SUFFIX)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        write_text(os.path.join(tmp, CHECKSUMS_FILE), "".join(
            f"{sha256_file(os.path.join(tmp, f))}  {f}\n"
            for f in sorted(os.listdir(tmp)) if f != CHECKSUMS_FILE
        ))
        old = None
        with folder_lock(folder):  # another export swaps its folder in before or after this one
            restore_folder(folder, locked=True)
            _check_replaceable(folder, marker)
            if os.path.lexists(folder):
                old = tmp[: -len(TEMP_SUFFIX)] + OLD_SUFFIX  # unique, as tmp is
                os.replace(folder, old)
            os.replace(tmp, folder)  # a kill before this: restore_folder puts one back
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# A folder renamed away by atomic_folder, until the new one is in place.
OLD_SUFFIX = ".old" + TEMP_SUFFIX


def _check_replaceable(folder, marker):
    """Raises FileExistsError unless ``folder`` is absent, an empty folder, or
    (with ``marker``) a folder holding ``marker``: never a file, a link or a
    folder of other files."""
    if os.path.islink(folder) or os.path.lexists(folder) and not os.path.isdir(folder):
        kind = "a symbolic link" if os.path.islink(folder) else "a file"
        raise FileExistsError(
            f"{folder} is {kind}, not an export folder: it is not replaced; choose another "
            "destination or remove it"
        )
    if os.path.isdir(folder) and os.listdir(folder) and marker is not None:
        if not os.path.isfile(os.path.join(folder, marker)):
            raise FileExistsError(
                f"{folder} exists and holds no {marker}: it is not an export, so it is not "
                "replaced; choose another folder or empty it"
            )


@contextlib.contextmanager
def folder_lock(folder):
    """Holds an exclusive lock (``flock``) on the parent folder of ``folder``
    while exports swap ``folder`` and loads restore it, so that two
    processes never rename it at once (nothing is left behind)."""
    parent = os.path.dirname(os.path.abspath(os.fspath(folder)))
    if fcntl is None or not os.path.isdir(parent):
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class FolderBusy(RuntimeError):
    """Another process holds :func:`exclusive_use` of a folder."""


@contextlib.contextmanager
def exclusive_use(folder, wait=False):
    """Holds an exclusive lock (``flock``) on ``folder`` itself (created if
    needed) for the length of the block: a second process asking for it
    waits (``wait``) or gets :class:`FolderBusy`. Released when the process
    ends, however it ends (nothing is left behind to clean up)."""
    os.makedirs(folder, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise FolderBusy(folder) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def restore_folder(folder, locked=False):
    """Puts back a ``folder`` that a process killed inside
    :func:`atomic_folder`'s swap left missing (renamed away, the new one not
    yet in): the new folder when it was complete, else the old one. Called
    before every export and load; does nothing when ``folder`` exists.

    Returns
    -------
    bool
        Whether a folder was put back.
    """
    folder = os.path.abspath(os.fspath(folder))
    parent, name = os.path.split(folder)
    pattern = os.path.join(glob.escape(parent), f".{glob.escape(name)}.*{OLD_SUFFIX}")
    if os.path.lexists(folder) or not glob.glob(pattern):
        return False
    if not locked:
        with folder_lock(folder):
            return restore_folder(folder, locked=True)
    olds = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not olds:
        return False
    new = olds[-1][: -len(OLD_SUFFIX)] + TEMP_SUFFIX
    if os.path.isfile(os.path.join(new, CHECKSUMS_FILE)):
        os.replace(new, folder)
        shutil.rmtree(olds[-1], ignore_errors=True)
        what = "the export that was being swapped in"
    else:
        os.replace(olds[-1], folder)
        what = "the previous export"
    logger.warning(f"{folder} was missing (a process killed while replacing it): restored {what}")
    return True


def sha256_file(path):
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ChecksumError(ValueError):
    """A folder's files do not match its ``checksums.sha256``: they do not
    come from one export."""


def verify_checksums(folder, files, checksums=None):
    """Checks ``files`` against the ``checksums.sha256`` of ``folder``
    (written by :func:`atomic_folder`).

    Arguments
    ---------
    folder : str
        The folder (named in messages).
    files : dict
        ``{name: local path}`` of the files about to be used; each must be
        listed, with the same SHA-256.
    checksums : str, optional
        The checksums file (default ``<folder>/checksums.sha256``).

    Returns
    -------
    bool
        False when there is no checksums file (a folder written before they
        existed); True when every file matches.

    Raises
    ------
    ChecksumError
        A file is not listed, or its content differs, naming it.
    """
    checksums = checksums or os.path.join(folder, CHECKSUMS_FILE)
    if not os.path.isfile(checksums):
        return False
    listed = {}
    with open(checksums, encoding="utf-8") as handle:
        for line in handle:
            # `<digest>  name` (text mode) or `<digest> *name` (sha256sum -b)
            digest, _, name = line.rstrip("\n").partition(" ")
            listed[name[1:] if name[:1] in (" ", "*") else name] = digest
    for name, path in files.items():
        if name not in listed:
            problem = f"{name} is not listed in {CHECKSUMS_FILE}"
        elif sha256_file(path) != listed[name]:
            problem = f"{name} differs from the file exported with the others"
        else:
            continue
        raise ChecksumError(
            f"{folder}: {problem}, so its files do not come from one export (an interrupted "
            "export, or files copied in from another); refusing to load it. Export it again (or, "
            f"if you changed a file on purpose, delete {CHECKSUMS_FILE} to load it unchecked)"
        )
    return True


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
