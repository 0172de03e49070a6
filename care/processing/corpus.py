"""Reading a corpus release for a ``<dataset>_prepare.py`` script: the
folders and files it must hold, its text and tables, durations from audio
headers, and its counts checked against the official release.

- corpus files: :func:`require_dir`, :func:`require_file`,
  :func:`require_audio`, :func:`read_text`, :func:`read_table`;
- durations from headers: :func:`audio_duration`, :func:`read_durations`;
- the same recording under two names: :func:`drop_identical_audio`;
- checks against the release: :func:`check_release` (and, in
  :mod:`care.processing.manifest`, :func:`~care.processing.manifest.check_counts`
  and :func:`~care.processing.manifest.check_labels`).

Errors are :class:`care.processing.manifest.ManifestError`, naming the file
or folder and the problem.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import csv
import hashlib
import io
import os
from collections import defaultdict

from speechbrain.utils.logger import get_logger

from care.processing.audio import AudioError, audio_info
from care.processing.manifest import ManifestError, check_counts

logger = get_logger(__name__)

LFS_MAGIC = b"version https://git-lfs"


# ---------------------------------------------------------------------------
# Corpus files


def require_dir(path, what, hint=""):
    """Returns ``path``; raises :class:`ManifestError` naming it when it is
    not a folder.

    Arguments
    ---------
    path : str
        The folder.
    what : str
        What it should hold, for the message.
    hint : str
        How to fix it, for the message.

    Returns
    -------
    str
        ``path``.

    Example
    -------
    >>> require_dir("/no/such/folder", "the audio", "Unpack the corpus here")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /no/such/folder: missing folder (the audio). Unpack the corpus here
    """
    if not os.path.isdir(path):
        raise ManifestError(f"{path}: missing folder ({what}). {hint}".rstrip())
    return path


def require_file(path, what, hint=""):
    """Returns ``path``; raises :class:`ManifestError` naming it when it is
    not a file (arguments as :func:`require_dir`).

    Example
    -------
    >>> require_file("/no/such/labels.csv", "the labels")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /no/such/labels.csv: missing file (the labels).
    """
    if not os.path.isfile(path):
        raise ManifestError(f"{path}: missing file ({what}). {hint}".rstrip())
    return path


def require_audio(paths, what):
    """Raises :class:`ManifestError` when labelled items have no audio file.

    Arguments
    ---------
    paths : dict
        ``{utt_id: path}`` of the items a label file lists.
    what : str
        What the items are, for the message (``"labelled segments"``).

    Example
    -------
    >>> require_audio({"u1": "/no/u1.wav"}, "labelled segments")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: 1 labelled segments have no audio file, e.g. ['/no/u1.wav']
    """
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        raise ManifestError(f"{len(missing)} {what} have no audio file, e.g. {missing[:3]}")


def read_text(path):
    """Text of a label or transcript file: UTF-8 (with or without BOM), or
    Windows-1252 for files that are not valid UTF-8 (some corpora ship both).

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as handle:
    ...     _ = handle.write("Colère".encode("cp1252"))
    >>> read_text(handle.name)
    'Colère'
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_table(path, columns=(), delimiter=","):
    """Rows of a CSV label table (read with :func:`read_text`) as dicts.

    Arguments
    ---------
    path : str
        The CSV file, with a header row (names are stripped of spaces).
    columns : iterable of str
        Columns that must be present.
    delimiter : str
        The column separator (``"\\t"`` for a TSV file).

    Returns
    -------
    list of dict
        One dict per row; raises :class:`ManifestError` naming the file when
        a column is missing or there are no rows.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
    ...     _ = handle.write("path, label\\na.wav,happy\\n")
    >>> read_table(handle.name, ("path", "label"))
    [{'path': 'a.wav', 'label': 'happy'}]
    >>> read_table(handle.name, ("path", "speaker"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: ....csv: missing column(s) ['speaker']; the header must name path, speaker (found ['path', 'label'])
    """
    reader = csv.DictReader(io.StringIO(read_text(path)), delimiter=delimiter)
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    absent = [c for c in columns if c not in header]
    if absent:
        raise ManifestError(
            f"{path}: missing column(s) {absent}; the header must name "
            f"{', '.join(columns)} (found {header})"
        )
    rows = list(reader)
    if not rows:
        raise ManifestError(f"{path}: no rows")
    return rows


# ---------------------------------------------------------------------------
# Durations


def audio_duration(path):
    """Duration in seconds from the file header (no decoding).

    Raises :class:`care.processing.audio.AudioError` naming the file when it
    is missing, unreadable or reports no samples, and :class:`ManifestError`
    for a Git LFS pointer (a corpus cloned without ``git lfs``).

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.dataio import audio_io
    >>> path = os.path.join(tempfile.mkdtemp(), "half.wav")
    >>> audio_io.save(path, torch.zeros(1, 8000), 16000)
    >>> audio_duration(path)
    0.5
    """
    try:
        frames, rate, _ = audio_info(path)
    except AudioError:
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if handle.read(len(LFS_MAGIC)) == LFS_MAGIC:
                    raise ManifestError(
                        f"{path}: a Git LFS pointer, not audio; run `git lfs pull` "
                        "in the corpus repository"
                    ) from None
        raise
    if not frames > 0:
        raise AudioError(f"{path}: the header reports no samples")
    return frames / rate


def read_durations(paths, max_bad_files=0, option="max_bad_files"):
    """Header durations of many files; unreadable files are skipped and logged.

    Arguments
    ---------
    paths : dict
        ``{utt_id: path}``.
    max_bad_files : int or None
        Missing or unreadable files tolerated (a corpus's known bad files;
        the prepare functions' option of the same name); more raise
        :class:`ManifestError` naming the first few. None tolerates any
        number (the caller decides). A Git LFS pointer always raises.
    option : str or None
        The prepare option that raises the limit, named in the error; None
        for a corpus without known bad files (whose prepare function has no
        such option): the error then says to replace or remove the files.

    Returns
    -------
    durations : dict
        ``{utt_id: seconds}`` of the readable files.
    unreadable : dict
        ``{utt_id: message}``.

    Example
    -------
    >>> read_durations({"u1": "/no/u1.wav"})
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: 1 unreadable audio files, at most 0 tolerated (max_bad_files): /no/u1.wav: no such file
    >>> read_durations({"u1": "/no/u1.wav"}, max_bad_files=None)
    ({}, {'u1': '/no/u1.wav: no such file'})
    """
    durations, unreadable = {}, {}
    for utt, path in paths.items():
        try:
            durations[utt] = audio_duration(path)
        except AudioError as error:
            unreadable[utt] = str(error)
    if max_bad_files is None:
        return durations, unreadable
    if len(unreadable) > max_bad_files:
        first = "; ".join(list(unreadable.values())[:5])
        if option is None:
            raise ManifestError(
                f"{len(unreadable)} unreadable audio files: {first}. Replace them with good "
                "copies, or remove them and prepare with --prepare_options '{strict: False}'"
            )
        raise ManifestError(
            f"{len(unreadable)} unreadable audio files, at most {max_bad_files} "
            f"tolerated ({option}): {first}"
        )
    for message in unreadable.values():
        logger.warning(f"Skipped unreadable audio: {message}")
    return durations, unreadable


# ---------------------------------------------------------------------------
# Copies


def drop_identical_audio(data, paths, source, drop=True):
    """Finds audio files whose bytes are those of another utterance's file.

    A copy counts one recording twice and, filed under another speaker id,
    puts it on both sides of a speaker-independent split; some releases hold
    such copies (found by size, then SHA-256; empty files are left to
    :func:`read_durations`).

    Arguments
    ---------
    data : dict
        ``{utt_id: entry}`` with ``label`` and ``speaker``. With ``drop``,
        every copy is removed from it (in place; of a set of identical files
        the first utterance id in sorted order stays).
    paths : dict
        ``{utt_id: audio path}`` of (at least) ``data``'s utterances.
    source : str
        The corpus, for messages.
    drop : bool
        Remove the copies (logged). False keeps them, which is safe only
        when each set of copies belongs to one speaker: copies under
        different speaker ids are refused.

    Returns
    -------
    dict
        ``{copy: utt_id of the file it copies}``.

    Raises
    ------
    ManifestError
        Copies labelled differently (any ``drop``), or, without ``drop``,
        filed under different speakers; the message names both files.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> paths = {u: os.path.join(folder, u + ".wav") for u in ("a1", "a2", "b1")}
    >>> for utt, content in zip(paths, (b"same", b"same", b"other")):
    ...     with open(paths[utt], "wb") as handle:
    ...         _ = handle.write(content)
    >>> data = {u: {"label": "low", "speaker": u[0]} for u in paths}
    >>> drop_identical_audio(data, paths, "toy"), sorted(data)
    ({'a2': 'a1'}, ['a1', 'b1'])
    """
    by_size = defaultdict(list)
    for utt in sorted(data):
        by_size[os.path.getsize(paths[utt])].append(utt)
    first, copies = {}, {}
    for size, utts in by_size.items():
        if size == 0 or len(utts) < 2:
            continue
        for utt in utts:
            with open(paths[utt], "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            if digest in first:
                copies[utt] = first[digest]
            else:
                first[digest] = utt
    for copy, original in copies.items():
        fields = ("label",) if drop else ("label", "speaker")
        for field in fields:
            if data[copy][field] != data[original][field]:
                raise ManifestError(
                    f"{source}: {paths[copy]} ({field} {data[copy][field]}) is a byte-identical "
                    f"copy of {paths[original]} ({field} {data[original][field]})"
                )
    if drop and copies:
        for copy in copies:
            del data[copy]
        logger.warning(
            f"{source}: left out {len(copies)} byte-identical copies of other files "
            f"(e.g. {list(copies.items())[:3]}; listed in prepare.json)"
        )
    return copies


# ---------------------------------------------------------------------------
# Checks against the release


def wav_files(folder):
    """The ``.wav`` files directly in ``folder``, the extension in any case
    (``a.WAV`` too), as sorted paths.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a.wav", "B.WAV", "c.txt"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> [os.path.basename(path) for path in wav_files(folder)]
    ['B.WAV', 'a.wav']
    """
    paths = (os.path.join(folder, name) for name in os.listdir(folder))
    return sorted(p for p in paths if p.lower().endswith(".wav") and os.path.isfile(p))


def check_num_folds(num_folds):
    """Raises :class:`ManifestError` unless ``num_folds`` is a whole number of
    at least 2 (speaker groups for cross-validation).

    Example
    -------
    >>> check_num_folds(0)
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: num_folds must be a whole number of at least 2, got 0
    """
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise ManifestError(f"num_folds must be a whole number of at least 2, got {num_folds!r}")


def check_release(found, release, source):
    """:func:`check_counts` for each count a corpus's official release fixes.

    Arguments
    ---------
    found : dict
        ``{what: count}``, a count being a total or ``{key: count}``.
    release : dict or None
        The official counts, with the same keys; None skips the checks
        (``strict=False``: a subset).
    source : str
        The corpus folder or file, for the message.

    Example
    -------
    >>> release = {"files": 3, "files per emotion": {"angry": 2, "neutral": 1}}
    >>> check_release({"files": 3, "files per emotion": {"angry": 2, "neutral": 1}}, release, "/corpus")
    >>> check_release({"files": 2, "files per emotion": {"angry": 2}}, release, "/corpus")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /corpus: expected 3 files, found 2: the files differ from the official release; is the corpus complete? strict=False prepares a subset
    """
    for what, count in found.items():
        check_counts(count, None if release is None else release[what], what, source)
