"""The ``care-classify`` command line: an emotion label per audio file with
an exported classifier (:class:`care.inference.EmotionRecognizer`).

Exit status: 0 every file classified; 1 some input failed, the others'
results still written; 2 bad arguments; 3 the classifier could not be loaded
or was refused::

    care-classify --source results/probe/classifier recordings/ extra.wav
    care-classify --source FOLDER recordings/ --jsonl --output labels.jsonl
    care-classify --source FOLDER recordings/ --report report.html   # + a page of timelines
    python -m care.cli --source FOLDER speech.wav   # the same

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import json
import math
import os
import stat
import sys
import tempfile

from tqdm import tqdm

from care.inference import EmotionRecognizer
from care.io import write_text
from care.processing.audio import AudioError
from care.processing.windows import DEFAULT_HOP, DEFAULT_WINDOW, OutputError
from care.report import write_report

# Extensions collected when a directory is given (files named explicitly are
# always tried). All are decoded by soundfile / libsndfile >= 1.1.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".au", ".caf", ".w64", ".rf64",
)  # fmt: skip
EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE, EXIT_MODEL = 0, 1, 2, 3


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
    probability column per class (and, with ``timeline``, a row per window)."""
    if results and results[0].attributes is not None:
        return _attribute_table(results, labels, timeline)
    header = ["file", "duration_s", "label", "score"] + list(labels)
    rows = []
    for result in results:
        rows.append(
            [_printable(result.path), f"{result.duration:.2f}", result.label, f"{result.score:.3f}"]
            + [f"{float(p):.3f}" for p in result.probabilities]
        )
        if timeline and len(result.windows) > 1:
            for w in result.windows:
                span = f"  {w.start:.2f}-{w.end:.2f} s"
                rows.append(
                    [span, f"{w.end - w.start:.2f}", w.label, f"{w.score:.3f}"]
                    + [f"{float(p):.3f}" for p in w.probabilities]
                )
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(row):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
        cells += [cell.rjust(width) for cell, width in zip(row[3:], widths[3:])]
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in [header] + rows) + "\n"


def _attribute_table(results, attributes, timeline=False):
    """:func:`format_table` for a dimensional classifier: file, duration and
    one column per attribute (and, with ``timeline``, a row per window)."""
    rows = [["file", "duration_s"] + list(attributes)]
    for result in results:
        rows.append([_printable(result.path), f"{result.duration:.2f}"]
                    + [f"{v:.3f}" for v in result.attributes.values()])
        if timeline and len(result.windows) > 1:
            rows += [[f"  {w.start:.2f}-{w.end:.2f} s", f"{w.end - w.start:.2f}"]
                     + [f"{v:.3f}" for v in w.attributes.values()] for w in result.windows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip()
        for row in rows
    ) + "\n"


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
        help="write the results here instead of stdout (checked before classifying)")
    add("--report", default=None, metavar="FILE.html",
        help="also write a self-contained HTML page: per file a timeline of the per-window "
        "probabilities (or attributes), an audio player (linked by relative path) and the "
        "files that could not be read (checked before classifying)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.window is not None and args.hop is not None and args.hop > args.window:
        parser.error(f"--hop ({args.hop}) must not exceed --window ({args.window})")
    for option, path in (("--output", args.output), ("--report", args.report)):
        problem = _output_problem(path) if path is not None else None
        if problem:
            parser.error(f"{option} {path}: {problem}")
    return args


def _output_problem(path):
    """Why results could not be written to ``path`` (None when they can):
    tried before any file is classified, so that no work is lost."""
    if os.path.isdir(path):
        return "is a directory"
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".care-classify-"):
            pass
    except OSError as error:
        return f"cannot write there ({error.strerror or error})"
    return None


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
    results = []
    progress = tqdm(total=len(paths), unit="file", disable=len(paths) < 2, file=sys.stderr)
    for path, result in recognizer.recognize_files(paths, window, hop, args.batch_size):
        progress.update()
        if isinstance(result, Exception):
            message = str(result) if isinstance(result, (AudioError, OutputError)) else (
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
