"""Where a model is loaded from: a ``source`` (a local folder or a hub id)
and the ``savedir`` its files are collected into
(:func:`care.lobes.export.load_pretrained`).

A source that looks like a path but exists nowhere is named as a missing
folder (not sent to the hub as a malformed repository id). A savedir records
the source it was collected from (``care_source.txt``): SpeechBrain's
``fetch`` reuses a file already in the savedir, so a savedir collected from
one model would otherwise silently serve its files for another source (a hub
id that does not even exist, offline). A savedir holding another model's
files, or files of unknown origin, is refused, naming both.

Example
-------
>>> import tempfile
>>> savedir, model = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> claim_savedir(savedir, model)
>>> claim_savedir(savedir, "someone/emotion-model")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
care.lobes.sources.SavedirError: savedir ... holds the files of another model (...), not of someone/emotion-model...

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

from care.io import restore_folder, write_text

SOURCE_RECORD = "care_source.txt"


class SavedirError(ValueError):
    """A savedir that holds the files of another model."""


def looks_like_path(source):
    """Whether ``source`` can only be a local path, not a hub id (``name``
    or ``namespace/name``): absolute, starting with ``./``, ``../`` or
    ``~``, or of more than two parts.

    Example
    -------
    >>> [looks_like_path(s) for s in ("someone/model", "./model", "results/probe/classifier")]
    [False, True, True]
    """
    text = os.fspath(source)
    parts = text.replace(os.sep, "/").split("/")
    return (isinstance(source, os.PathLike) or os.path.isabs(text)
            or parts[0] in (".", "..") or text.startswith("~") or len(parts) > 2)


def check_source(source):
    """Puts back a folder that a killed export left missing
    (:func:`care.io.restore_folder`); raises FileNotFoundError for a
    ``source`` that looks like a path (:func:`looks_like_path`) and is not a
    folder."""
    if not isinstance(source, (str, os.PathLike)):
        return
    restore_folder(source)
    if looks_like_path(source) and not os.path.isdir(source):
        what = "is not a folder" if os.path.lexists(source) else "no such folder"
        raise FileNotFoundError(f"{os.fspath(source)}: {what} (a model folder, or a hub id "
                                "namespace/name)")


def claim_savedir(savedir, source, hparams_file="hyperparams.yaml"):
    """Records in ``savedir`` that its files come from ``source`` (before
    they are collected), or raises :class:`SavedirError` when it already
    holds files of another source, or a ``hparams_file`` of unknown origin
    (collected before the record existed: accepted when it links into the
    ``source`` folder). Nothing to do without a savedir, or when it is the
    source folder itself."""
    if savedir is None:
        return
    local = os.path.isdir(source)
    identity = os.path.realpath(source) if local else os.fspath(source)
    savedir = os.fspath(savedir)
    if local and os.path.realpath(savedir) == identity:
        return
    record, collected = os.path.join(savedir, SOURCE_RECORD), os.path.join(savedir, hparams_file)
    if os.path.isfile(record):
        with open(record, encoding="utf-8") as handle:
            previous = handle.read().strip()
    elif os.path.islink(collected):
        previous = os.path.dirname(os.path.realpath(collected))
    else:
        previous = None if os.path.lexists(collected) else identity
    if previous != identity:
        raise SavedirError(
            f"savedir {savedir} holds the files of another model ({previous or 'of unknown origin'}"
            f"), not of {os.fspath(source)}: they would be loaded instead; choose another savedir "
            "or empty it"
        )
    write_text(record, identity + "\n")
