"""Writing a prepared corpus: what every ``<dataset>_prepare.py`` calls to
write its manifest and to skip a preparation that is up to date.

- :func:`write_manifest` checks a manifest (the contract of
  :mod:`care.processing.manifest`, and every speaker in one fold:
  :func:`care.processing.folds.check_fold_overlap`) and writes ``data.json``
  and ``prepare.json``;
- :func:`skip_preparation` is the one skip rule: the outputs exist, were
  written with the same options from the same files, and were not changed
  since (their SHA-256 in ``prepare.json``);
- :func:`write_record` writes ``prepare.json`` for a preparation with other
  outputs (the pretraining manifests); :func:`files_fingerprint` names the
  files it was made from.

``prepare.json`` is removed before and written after ``data.json``: an
interrupted preparation, or a manifest edited since, is prepared again.

Example
-------
>>> import json, os, tempfile
>>> folder, corpus = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> entry = {"duration": 1.0, "label": "ang"}
>>> data = {u: dict(entry, wav=f"{{data_root}}/{u}.wav", speaker=s, fold=s)
...         for u, s in (("a", "s1"), ("b", "s2"))}
>>> write_manifest(folder, data, {"strict": True}, [], corpus)
>>> sorted(os.listdir(folder))
['data.json', 'prepare.json']
>>> skip_preparation(folder, {"strict": True}, [], corpus)
True
>>> skip_preparation(folder, {"strict": False}, [], corpus)
False

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import json
import os

from speechbrain.utils.logger import get_logger

from care.io import TEMP_SUFFIX, fingerprint, write_json
from care.processing.folds import check_fold_overlap
from care.processing.manifest import MANIFEST_FILE, PREPARE_FILE, natural_key, validate_manifest

logger = get_logger(__name__)


def files_fingerprint(paths, data_folder, extra=None):
    """:func:`care.io.fingerprint` of ``paths`` named by their path relative
    to ``data_folder`` (so that a prepared corpus can move); a name that is
    not UTF-8 is recorded with its bytes escaped (``caf\\xe9.wav``)."""
    names = (os.path.relpath(path, data_folder) for path in paths)
    return fingerprint({_utf8(name): os.path.join(data_folder, name) for name in names}, extra)


def _utf8(name):
    """``name`` as UTF-8 text: undecodable bytes (which ``os.listdir`` gives as
    surrogate escapes) become ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def skip_preparation(save_folder, options, audio_files=None, data_folder=None, files_key=None,
                     outputs=(MANIFEST_FILE,)):  # fmt: skip
    """True when ``save_folder`` already holds ``outputs`` written with the
    same ``options`` from the same files and not changed since: the
    ``prepare.json`` beside them records the options, the fingerprint of the
    files (``files_key``, or :func:`files_fingerprint` of ``audio_files``)
    and the SHA-256 of each output (the manifests' contents). Removes temp
    files of interrupted writes. The one skip rule of every prepare function;
    :func:`write_record` writes what it reads."""
    if files_key is None:
        files_key = files_fingerprint(audio_files, data_folder)
    record = os.path.join(save_folder, PREPARE_FILE)
    _remove_stale_temp_files(save_folder, (*outputs, PREPARE_FILE))
    paths = [os.path.join(save_folder, name) for name in outputs]
    if not all(os.path.isfile(path) for path in paths + [record]):
        return False
    with open(record, encoding="utf-8") as handle:
        previous = json.load(handle)
    same = (
        previous.get("options") == _plain(options)
        and previous.get("fingerprint") == files_key
        and previous.get("manifests") == _hashes(save_folder, outputs)
    )
    if same:
        logger.info(f"{', '.join(paths)} up to date (same options and files); skipping preparation")
    return same


def write_record(save_folder, record, outputs=(MANIFEST_FILE,)):
    """Writes ``prepare.json`` (``record`` plus the SHA-256 of each output),
    last, after the outputs: its presence marks them complete."""
    record = dict(record, manifests=_hashes(save_folder, outputs))
    write_json(os.path.join(save_folder, PREPARE_FILE), record)
    return record


def write_manifest(
    save_folder,
    data,
    options,
    audio_files,
    data_folder,
    protocol="",
    facts=None,
    check_speakers=True,
    ignore_speakers=(),
):
    """Checks ``data`` and writes ``data.json`` and ``prepare.json``.

    ``data`` must keep the contract
    (:func:`~care.processing.manifest.validate_manifest`) and, unless
    ``check_speakers`` is off, hold every speaker in one fold
    (:func:`~care.processing.folds.check_fold_overlap`). Both files are
    written atomically; the old record is removed first and the new one,
    with the manifest's SHA-256, written last, so that an interrupted run
    prepares again.

    Arguments
    ---------
    save_folder : str
        Where the files go.
    data : dict
        The manifest.
    options : dict
        The prepare function's options (compared by :func:`skip_preparation`).
    audio_files : iterable of str
        The files the manifest was made from (audio and label files), for
        the fingerprint.
    data_folder : str
        The corpus root (``{data_root}``).
    protocol : str
        How the folds were made, in words.
    facts : dict, optional
        More facts for ``prepare.json`` (skipped files, speaker overlap, ...).
    check_speakers : bool
        Refuse speakers in more than one fold. Off only for corpora whose
        official splits share speakers by design (say so in the record) or
        for folds given by the user (then :func:`~care.processing.folds.fold_splits` refuses them).
    ignore_speakers : iterable of str
        Speaker ids that do not identify a person (e.g. ``"Unknown"``).
    """
    validate_manifest(data, data_folder)
    if check_speakers:
        check_fold_overlap(data, ignore_speakers)
    counts = {
        "utterances": len(data),
        "hours": round(sum(e["duration"] for e in data.values()) / 3600, 4),
        "labels": _count(data, "label"),
        "speakers": len({e["speaker"] for e in data.values()}),
        "folds": _count(data, "fold"),
    }
    record = {
        "options": _plain(options),
        "protocol": protocol,
        "counts": counts,
        "fingerprint": files_fingerprint(audio_files, data_folder),
    }
    record.update(facts or {})
    record_path = os.path.join(save_folder, PREPARE_FILE)
    if os.path.exists(record_path):
        os.remove(record_path)
    write_json(os.path.join(save_folder, MANIFEST_FILE), data)
    write_record(save_folder, record)
    logger.info(f"Wrote {os.path.join(save_folder, MANIFEST_FILE)}: {counts}")


# ---------------------------------------------------------------------------
# Helpers


def _count(data, field):
    counts = {}
    for entry in data.values():
        counts[entry[field]] = counts.get(entry[field], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: natural_key(str(kv[0]))))


def _plain(options):
    return json.loads(json.dumps(options, default=str))


def _hashes(folder, names):
    """``{name: SHA-256}`` of the files ``names`` in ``folder`` (None for a missing one)."""
    hashes = {}
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            hashes[name] = None
            continue
        with open(path, "rb") as handle:
            hashes[name] = hashlib.sha256(handle.read()).hexdigest()
    return hashes


def _remove_stale_temp_files(folder, names):
    """Temp files that a killed atomic write of ``names`` left in ``folder``."""
    if not os.path.isdir(folder):
        return
    prefixes = tuple("." + name + "." for name in names)
    for name in os.listdir(folder):
        if name.startswith(prefixes) and name.endswith(TEMP_SUFFIX):
            os.remove(os.path.join(folder, name))
