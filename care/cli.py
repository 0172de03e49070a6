"""The ``care-classify`` command line: an emotion label per audio file with
an exported classifier (:class:`care.inference.EmotionRecognizer`).

Exit status: 0 every file classified; 1 some input failed, the others'
results still written; 2 bad arguments; 3 the classifier could not be loaded
or was refused::

    care-classify --source results/probe/classifier recordings/ extra.wav
    care-classify --source FOLDER recordings/ --jsonl --output labels.jsonl
    care-classify --source FOLDER recordings/ --report report.html   # + a page of timelines
    python -m care.cli --source FOLDER speech.wav   # the same

A classifier from a normalised probing run (``feature_normalization: speaker
| corpus``) z-scores each group of recordings by the group's statistics
(:meth:`care.inference.EmotionRecognizer.recognize_files`): ``--group_by
file`` (default; a long recording by its own windows), ``folder`` (one
speaker per folder), ``all`` (every input together: a corpus-normalised
classifier on a new corpus), ``--speaker_csv`` (rows ``file,speaker``), or
``--speaker_pattern`` (a regular expression whose first group, searched in
each file's name, names its speaker: ``'^([0-9]{2})'`` for EmoDB's names). A
file whose group has too few windows (one short file, alone) fails with the
reason (exit 1), or with ``--normalization_fallback corpus`` is normalised by
the training corpus's stored statistics, with a warning. The table gains a
``normalization`` column, JSON lines a ``normalization`` key, saying which
statistics each file got. For an un-normalised classifier these options are
ignored, with one line on stderr, and the output is as before.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import csv
import json
import math
import os
import re
import stat
import sys

from tqdm import tqdm

from care.inference import EmotionRecognizer
from care.io import write_text
from care.processing.audio import AudioError
from care.processing.normalization import NormalizationError
from care.processing.windows import DEFAULT_HOP, DEFAULT_WINDOW, OutputError
from care.report import output_problem, write_report

# Extensions collected when a directory is given (files named explicitly are
# always tried). All are decoded by soundfile / libsndfile >= 1.1.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".au", ".caf", ".w64", ".rf64",
)  # fmt: skip
EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE, EXIT_MODEL = 0, 1, 2, 3
GROUPINGS = ("file", "folder", "all")


def find_audio(inputs):
    """Expands ``inputs`` (files and directories) into a list of
    ``(path, error)``: directories are walked (sorted, hidden entries
    skipped) for files with an :data:`AUDIO_EXTENSIONS` extension; files named
    explicitly are kept whatever their extension. A missing path, a broken or
    looping link, something that is not a regular file (FIFO, device,
    socket), a folder that cannot be read and a directory without audio get
    an error message instead."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            files, unreadable = [], []
            for root, dirs, names in os.walk(item, onerror=unreadable.append):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [
                    os.path.join(root, name)
                    for name in sorted(names)
                    if not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)
                ]
            found += [
                (error.filename, f"{error.filename}: cannot read the folder ({error.strerror})")
                for error in unreadable
            ]
            if not files and not unreadable:
                found.append((item, f"{item}: no audio files ({', '.join(AUDIO_EXTENSIONS)})"))
            found += [(path, _file_problem(path)) for path in files]
        else:
            found.append((item, _file_problem(item)))
    return found


def _file_problem(path):
    """Why ``path`` cannot be read as an audio file, or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if os.path.islink(path):
            return f"{path}: broken symbolic link or link loop ({error.strerror})"
        return f"{path}: {error.strerror.lower() if error.strerror else error}"
    if stat.S_ISREG(mode):
        return None
    kinds = [
        (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
    ]  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"{path}: {kind}, not an audio file"


def _printable(text):
    """``text`` with control characters (a newline in a file name) escaped, so
    that one result stays one table row or log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_table(results, labels, timeline=False):
    """An aligned text table: file, duration, label, score and one
    probability column per class (and, with ``timeline``, a row per window);
    a normalised classifier's results add a last column, ``normalization``
    (:attr:`~care.processing.windows.FileResult.normalization`)."""
    if results and results[0].attributes is not None:
        return _attribute_table(results, labels, timeline)
    normalised = any(result.normalization is not None for result in results)
    header = ["file", "duration_s", "label", "score"] + list(labels)
    rows = []
    for result in results:
        rows.append(
            [_printable(result.path), f"{result.duration:.2f}", result.label, f"{result.score:.3f}"]
            + [f"{float(p):.3f}" for p in result.probabilities]
            + ([_printable(result.normalization or "")] if normalised else [])
        )
        if timeline and len(result.windows) > 1:
            for w in result.windows:
                span = f"  {w.start:.2f}-{w.end:.2f} s"
                rows.append(
                    [span, f"{w.end - w.start:.2f}", w.label, f"{w.score:.3f}"]
                    + [f"{float(p):.3f}" for p in w.probabilities] + ([""] if normalised else [])
                )
    header += ["normalization"] if normalised else []
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    last = len(header) - 1 if normalised else len(header)

    def line(row):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
        cells += [cell.rjust(width) for cell, width in zip(row[3:last], widths[3:last])]
        cells += [row[-1]] if normalised else []
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in [header] + rows) + "\n"


def _attribute_table(results, attributes, timeline=False):
    """:func:`format_table` for a dimensional classifier: file, duration and
    one column per attribute (and, with ``timeline``, a row per window), and
    ``normalization`` last for a normalised classifier."""
    normalised = any(result.normalization is not None for result in results)
    rows = [["file", "duration_s"] + list(attributes) + (["normalization"] if normalised else [])]
    for result in results:
        rows.append([_printable(result.path), f"{result.duration:.2f}"]
                    + [f"{v:.3f}" for v in result.attributes.values()]
                    + ([_printable(result.normalization or "")] if normalised else []))
        if timeline and len(result.windows) > 1:
            rows += [[f"  {w.start:.2f}-{w.end:.2f} s", f"{w.end - w.start:.2f}"]
                     + [f"{v:.3f}" for v in w.attributes.values()] + ([""] if normalised else [])
                     for w in result.windows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(rows[0]) - 1 if normalised else len(rows[0])
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:last], widths[1:last])]
                  + ([row[-1]] if normalised else [])).rstrip()
        for row in rows
    ) + "\n"


class SpeakerTableError(ValueError):
    """A ``--speaker_csv`` that cannot be read; the message names the file and line."""


def read_speaker_csv(path):
    """Reads ``--speaker_csv``: rows ``file,speaker`` (a first row
    ``file,speaker`` or ``path,speaker`` is a header), or any CSV whose header
    names a ``file`` or ``path`` column and a ``speaker`` column among others
    (the template's ``path,label,speaker``: the CSV a corpus was probed with).
    A listed file matches an input by its path relative to the CSV's folder
    or, failing that, as given (relative to the working directory).

    Returns
    -------
    dict
        ``{absolute path: speaker}``, both readings of each row (the CSV's
        folder's first).

    Raises
    ------
    SpeakerTableError
        The file is missing or unreadable, a row has not two non-empty cells,
        or one file is given two speakers (naming the file and line).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "speakers.csv"), "w") as handle:
    ...     _ = handle.write("file,speaker\\na.wav,anna\\nsub/b.wav,ben\\n")
    >>> table = read_speaker_csv(os.path.join(folder, "speakers.csv"))
    >>> table[os.path.join(folder, "sub", "b.wav")]
    'ben'
    >>> with open(os.path.join(folder, "corpus.csv"), "w") as handle:
    ...     _ = handle.write("path,label,speaker\\na.wav,anger,anna\\n")
    >>> read_speaker_csv(os.path.join(folder, "corpus.csv"))[os.path.join(folder, "a.wav")]
    'anna'
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SpeakerTableError(f"{path}: cannot read it ({getattr(error, 'strerror', None) or error})") from None
    folder = os.path.dirname(os.path.abspath(path))
    relative, given, lines = {}, {}, {}
    columns, width = (0, 1), 2  # without a header: file,speaker
    for number, row in rows:
        cells = [cell.strip() for cell in row]
        header = [cell.lower() for cell in cells]
        if number == 1 and "speaker" in header and {"file", "path"} & set(header):
            columns = (header.index("file" if "file" in header else "path"), header.index("speaker"))
            width = len(cells)
            continue
        if not any(cells):
            continue
        if len(cells) != width or not all(cells[c] for c in columns):
            expected = ("two non-empty cells file,speaker" if (columns, width) == ((0, 1), 2) else
                        f"{width} cells as in the header, file and speaker not empty")
            raise SpeakerTableError(f"{path}, line {number}: expected {expected}, got {row!r}")
        name, speaker = (cells[c] for c in columns)
        key = os.path.abspath(os.path.join(folder, name))
        if relative.get(key, speaker) != speaker:
            raise SpeakerTableError(
                f"{path}, line {number}: {name} has speaker {speaker!r} here and {relative[key]!r} on line {lines[key]}")
        relative[key], lines[key] = speaker, number
        given.setdefault(os.path.abspath(name), speaker)
    if not relative:
        raise SpeakerTableError(f"{path}: no rows file,speaker")
    return {**given, **relative}


def file_groups(paths, group_by="file", speakers=None, pattern=None):
    """The group of each input (:meth:`EmotionRecognizer.recognize_files`'s
    ``groups``) and the inputs that have none.

    Arguments
    ---------
    paths : list of str
        The audio files.
    group_by : str
        ``file`` (each its own group), ``folder`` (its parent folder: one
        speaker per folder) or ``all`` (one group); not with ``speakers``.
    speakers : dict, optional
        :func:`read_speaker_csv`'s table; a file not in it is unlisted.
    pattern : re.Pattern, optional
        Searched in each file's name (not its folder): the first group, or
        the whole match without groups, names the speaker; a file whose
        name does not match, or matches empty, is unlisted.

    Returns
    -------
    groups : dict
        ``{path: group}``.
    unlisted : list of (str, str)
        ``(path, message)`` of the files ``speakers`` does not list.

    Example
    -------
    >>> groups, unlisted = file_groups(["a/x.wav", "a/y.wav", "b/z.wav"], "folder")
    >>> groups["a/x.wav"] == groups["a/y.wav"] != groups["b/z.wav"], unlisted
    (True, [])
    >>> groups, unlisted = file_groups(["e/03a01Fa.wav", "e/16b10Td.wav", "e/notes.wav"],
    ...                                pattern=re.compile("^([0-9]{2})"))
    >>> groups
    {'e/03a01Fa.wav': '03', 'e/16b10Td.wav': '16'}
    >>> print(unlisted[0][1])
    e/notes.wav: name notes.wav does not match --speaker_pattern '^([0-9]{2})'
    """
    if pattern is not None:
        groups, unlisted = {}, []
        for p in paths:
            found = pattern.search(os.path.basename(p))
            speaker = (found.group(1) if pattern.groups else found.group(0)) if found else None
            if speaker:
                groups[p] = speaker
            else:
                unlisted.append((p, f"{p}: name {os.path.basename(p)} does not match --speaker_pattern "
                                    f"{pattern.pattern!r}"))
        return groups, unlisted
    if speakers is not None:
        groups = {p: speakers[os.path.abspath(p)] for p in paths if os.path.abspath(p) in speakers}
        unlisted = [(p, f"{p}: not listed in --speaker_csv (add a row file,speaker for it)")
                    for p in paths if p not in groups]
        return groups, unlisted
    if group_by == "folder":
        return {p: os.path.relpath(os.path.dirname(os.path.abspath(p))) for p in paths}, []
    if group_by == "all":
        return {p: "all inputs" for p in paths}, []
    return {p: p for p in paths}, []


def _seconds(text):
    """A finite, positive number of seconds (for ``--window`` and ``--hop``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


def parse_args(argv=None):
    """The command line's options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="care-classify",
        description="Emotion label (or, for a dimensional probe, attribute values such as "
        "arousal, valence and dominance) per audio file with an exported CARE classifier. "
        "Loading a classifier runs its hyperparams.yaml, which can hold any code: a folder "
        "or hub id holding more than care's exporter writes is refused unless --trust.",
        epilog="Exit status: 0 every file classified; 1 some inputs could not be read or "
        "classified (each is reported on stderr, the others' results are written); "
        "2 bad arguments; 3 the classifier could not be loaded or was refused as untrusted.",
    )
    add = parser.add_argument
    add("inputs", nargs="+", metavar="FILE_OR_DIR",
        help="audio files, or folders searched recursively for " + " ".join(AUDIO_EXTENSIONS))
    add("--source", required=True, help="exported classifier folder (or a hub id)")
    add("--trust", action="store_true",
        help="load --source even if its hyperparams.yaml holds more than care exports "
        "(it can then run any code: only for a source you trust)")
    add("--savedir", default=None, help="where to collect the model files (default: in place)")
    add("--window", type=_seconds, default=None,
        help="window length (s) for long files (default: the model's, 8)")
    add("--hop", type=_seconds, default=None,
        help="hop between windows (s) (default: the model's, 4)")
    add("--batch_size", type=int, default=8, help="windows per forward pass")
    add("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    add("--jsonl", action="store_true",
        help="one JSON object per input (with its windows) instead of a table")
    add("--timeline", action="store_true",
        help="table: add a row per window for files longer than one window")
    add("--output", default=None,
        help="write the results here instead of stdout (checked before classifying: never "
        "an input or an existing file that care-classify did not write)")
    add("--report", default=None, metavar="FILE.html",
        help="also write a self-contained HTML page: per file a timeline of the per-window "
        "probabilities (or attributes), an audio player (linked by relative path) and the "
        "files that could not be read (checked like --output)")
    add("--group_by", choices=GROUPINGS, default=None,
        help="a normalised classifier's groups, each z-scored by its own statistics: file "
        "(default; a long recording by its own windows), folder (one speaker per folder), all "
        "(every input together: a corpus-normalised classifier on a new corpus)")
    add("--speaker_csv", default=None, metavar="FILE.csv",
        help="a normalised classifier's groups from rows file,speaker (header optional), or a CSV "
        "whose header names file or path and speaker (the template's path,label,speaker); a file "
        "as given or relative to the CSV's folder; an input it does not list fails")
    add("--speaker_pattern", default=None, metavar="REGEX",
        help="a normalised classifier's groups from the file names: the first group of REGEX "
        "(or its whole match), searched in each name, is the speaker, e.g. '^(\\d\\d)' for EmoDB, "
        "'_([a-z]+)_' for FSDD; a file whose name does not match fails")
    add("--normalization_fallback", choices=["corpus"], default=None,
        help="a normalised classifier: a group with too few windows (e.g. one short file) "
        "uses the training corpus's stored statistics, with a warning, instead of failing")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.window is not None and args.hop is not None and args.hop > args.window:
        parser.error(f"--hop ({args.hop}) must not exceed --window ({args.window})")
    for option, path in (("--output", args.output), ("--report", args.report)):
        problem = output_problem(path, args.inputs) if path is not None else None
        if problem:
            parser.error(f"{option} {path}: {problem}")
    if args.output and args.report and os.path.realpath(args.output) == os.path.realpath(args.report):
        parser.error(f"--output and --report both name {args.report}: the report would replace "
                     "the results; give two files")
    given = [o for o, v in (("--group_by", args.group_by), ("--speaker_csv", args.speaker_csv),
                            ("--speaker_pattern", args.speaker_pattern)) if v is not None]
    if len(given) > 1:
        parser.error(f"{' and '.join(given)} each say how to group the inputs: give one")
    if args.speaker_pattern is not None:
        try:
            args.speaker_pattern = re.compile(args.speaker_pattern)
        except re.error as error:
            parser.error(f"--speaker_pattern {args.speaker_pattern!r}: not a regular expression ({error})")
    args.speakers = None
    if args.speaker_csv is not None:
        try:
            args.speakers = read_speaker_csv(args.speaker_csv)
        except SpeakerTableError as error:
            parser.error(f"--speaker_csv {error}")
    return args


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = parse_args(argv)
    try:
        run_opts = {"device": args.device} if args.device else {}
        recognizer = EmotionRecognizer.from_hparams(
            source=args.source, savedir=args.savedir, run_opts=run_opts, trust=args.trust
        )
    except Exception as error:
        sys.stderr.write(f"care-classify: cannot load the classifier {args.source}: {error}\n")
        return EXIT_MODEL
    window = getattr(recognizer.hparams, "window", DEFAULT_WINDOW) if args.window is None else args.window
    hop = getattr(recognizer.hparams, "hop", DEFAULT_HOP) if args.hop is None else args.hop
    try:
        recognizer.check_window(window, hop)
    except ValueError as error:
        sys.stderr.write(f"care-classify: --window/--hop: {error}\n")
        return EXIT_USAGE

    found = find_audio(args.inputs)
    failures = [(path, error) for path, error in found if error is not None]
    paths = [path for path, error in found if error is None]
    groups = None
    grouping = [o for o, v in (("--group_by", args.group_by), ("--speaker_csv", args.speaker_csv),
                               ("--speaker_pattern", args.speaker_pattern),
                               ("--normalization_fallback", args.normalization_fallback)) if v]
    if recognizer.normalization == "none":
        if grouping:
            sys.stderr.write(f"care-classify: {args.source} does not normalise its features: "
                             f"{', '.join(grouping)} ignored\n")
    else:
        groups, unlisted = file_groups(paths, args.group_by or "file", args.speakers, args.speaker_pattern)
        failures += unlisted
        paths = [path for path in paths if path in groups]
    results = []
    progress = tqdm(total=len(paths), unit="file", disable=len(paths) < 2, file=sys.stderr)
    for path, result in recognizer.recognize_files(paths, window, hop, args.batch_size, groups,
                                                   args.normalization_fallback):
        progress.update()
        if isinstance(result, Exception):
            message = str(result) if isinstance(result, (AudioError, OutputError, NormalizationError)) else (
                f"{path}: {type(result).__name__}: {result}"
            )
            failures.append((path, message))
        else:
            results.append(result)
    progress.close()

    if args.jsonl:
        records = [result.to_dict() for result in results]
        records += [{"file": path, "error": message} for path, message in failures]
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        text = format_table(results, recognizer.labels, args.timeline) if results else ""
    written = False
    if args.output:
        try:
            write_text(args.output, text)
            written = True
        except OSError as error:  # checked at start, but e.g. the disk filled up
            sys.stderr.write(
                f"care-classify: cannot write {args.output} ({error}); results on stdout\n"
            )
    if not written:
        sys.stdout.write(text)
        sys.stdout.flush()
    if failures:
        sys.stderr.write(f"care-classify: {len(failures)} of {len(found)} inputs failed:\n")
        for _, message in failures:
            sys.stderr.write(f"  {_printable(message)}\n")
    reported = _write_report(args, recognizer, results, failures, window, hop)
    return EXIT_FAILED_INPUTS if failures or not written and args.output or not reported else EXIT_OK


def _write_report(args, recognizer, results, failures, window, hop):
    """Writes ``--report`` (when asked); False when it could not be written."""
    if not args.report:
        return True
    try:
        write_report(args.report, results, failures, recognizer.labels, args.source, window, hop,
                     dimensional=recognizer.dimensional)
    except OSError as error:  # checked at start, but e.g. the disk filled up
        sys.stderr.write(f"care-classify: cannot write {args.report} ({error})\n")
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
