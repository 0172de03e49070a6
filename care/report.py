"""The HTML report of ``care-classify --report FILE``: one self-contained page
that any browser opens offline (no server, no network; the figures inline as
SVG, a few lines of inline script only to follow the audio on its timeline).

Per classified file: its aggregate label and probability (or a dimensional
classifier's attribute values), its duration, a timeline of the per-window
class probabilities or attribute curves (:func:`care.plots.timeline_svg`,
time in m:ss) and an audio player linked by the file's path relative to the
report (so the report and the recordings move together). A header gives the
classifier, its classes, the window and hop, and an index of the files; the
files that could not be read are listed with the reason. Every name from the
outside (file names, labels, messages) is HTML-escaped.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import html
import os
import pathlib
import re
import tempfile
import urllib.parse

from care.io import write_text
from care.plots import class_colours, format_time, timeline_svg

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: 0.3em; }
h2 { font-size: 1.05em; margin: 0 0 0.3em; overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { text-align: left; padding: 0.15em 0.8em 0.15em 0; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
section.file { border-top: 1px solid #ccc; padding: 0.8em 0; }
.meta { margin: 0.2em 0; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.25em;
          vertical-align: baseline; }
.figure { position: relative; cursor: pointer; }
.playhead { position: absolute; top: 4%; bottom: 18%; width: 2px; background: #000;
            display: none; pointer-events: none; }
audio { width: 100%; max-width: 40em; }
.failed li { overflow-wrap: anywhere; }
.note { color: #666; font-size: 0.85em; }
"""

# Moves a line over a file's timeline as its audio plays; a click on the
# timeline plays from there. The SVG carries its plot area's horizontal
# extent (fractions of its width) and the recording's duration.
SCRIPT = """
document.querySelectorAll("section.file").forEach(function (section) {
  var audio = section.querySelector("audio"), figure = section.querySelector(".figure");
  if (!audio || !figure) return;
  var svg = figure.querySelector("svg"), line = figure.querySelector(".playhead");
  var x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, duration = +svg.dataset.duration;
  audio.addEventListener("timeupdate", function () {
    line.style.display = "block";
    line.style.left = (100 * (x0 + (x1 - x0) * audio.currentTime / duration)) + "%";
  });
  figure.addEventListener("click", function (event) {
    var box = figure.getBoundingClientRect();
    var at = ((event.clientX - box.left) / box.width - x0) / (x1 - x0);
    if (at >= 0 && at <= 1) { audio.currentTime = at * duration; audio.play(); }
  });
});
"""


def audio_link(path, folder):
    """The ``src`` of ``path``'s audio player in a page written in
    ``folder``: its path relative to the folder, percent-encoded (a
    ``file:`` address where no relative path exists, e.g. another drive).

    Example
    -------
    >>> audio_link("data/a b&c.wav", "reports")
    '../data/a%20b%26c.wav'
    """
    try:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    except ValueError:
        return pathlib.Path(os.path.abspath(path)).as_uri()
    return urllib.parse.quote(relative.replace(os.sep, "/"), safe="/")


def _escape(text):
    return html.escape(str(text), quote=True)


def _seconds(duration):
    """``1:23 (83.4 s)``."""
    return f"{format_time(duration)} ({duration:.1f} s)"


def _summary(result):
    """The aggregate of one file as HTML: the label with its probability, or
    the attribute values."""
    if result.attributes is not None:
        return ", ".join(f"{_escape(a)} {v:.2f}" for a, v in result.attributes.items())
    return f"<b>{_escape(result.label)}</b> {result.score:.2f}"


def _probabilities(result):
    """Every class's aggregate probability, each after its colour swatch (the
    colour of its band in the timeline)."""
    colours = class_colours(result.labels)
    if result.attributes is not None:
        values = result.attributes.values()
    else:
        values = [float(p) for p in result.probabilities]
    return " &nbsp; ".join(
        f'<span class="swatch" style="background:{colour}"></span>{_escape(label)} {value:.2f}'
        for label, value, colour in zip(result.labels, values, colours)
    )


def _file_section(index, result, folder):
    """One classified file: heading, summary, timeline and audio player."""
    windows = len(result.windows)
    svg = timeline_svg(result, salt=f"care-report-{index}")
    return "\n".join([
        f'<section class="file" id="file-{index}">',
        f"<h2>{_escape(result.path)}</h2>",
        f'<p class="meta">{_summary(result)} &middot; duration {_seconds(result.duration)} '
        f"&middot; {windows} window{'s' if windows != 1 else ''}</p>",
        f'<p class="meta">{_probabilities(result)}</p>',
        *([f'<p class="meta">normalisation: {_escape(result.normalization)}</p>']
          if result.normalization else []),
        f'<div class="figure">{svg}<div class="playhead"></div></div>',
        f'<audio controls preload="none" src="{_escape(audio_link(result.path, folder))}"></audio>',
        "</section>",
    ])


def _normalisation_summary(results):
    """The header's line for a normalised classifier's results: how many
    groups were z-scored by their own statistics, and how many files took the
    training corpus's stored ones (each file's section says which)."""
    notes = [(result.path, result.normalization) for result in results if result.normalization]
    fallback = sum(note.startswith("stored corpus statistics") for _, note in notes)
    # A group of several files shares its note; a file on its own windows is a group by itself.
    groups = len({path if note.startswith("statistics of its own") else note for path, note in notes
                  if not note.startswith("stored corpus statistics")})
    return _escape(f"features z-scored as in training: {groups} group{'s' if groups != 1 else ''} by "
                   "their own statistics" + (f", {fallback} file{'s' if fallback != 1 else ''} by the "
                                             "training corpus's stored statistics" if fallback else "")
                   + " (each file's section says which)")


def report_html(results, failures, labels, source, window, hop, folder=".", dimensional=False):
    """The report's HTML text (see :func:`write_report`; ``folder`` is where
    the page will be, for the audio players' relative paths)."""
    total = sum(result.duration for result in results)
    kind = "attributes" if dimensional else "classes"
    rows = [
        ("classifier", _escape(source)),
        (kind, ", ".join(_escape(label) for label in labels)),
        ("window / hop", f"{window:g} s / {hop:g} s (files longer than a window are classified "
                         "in windows; each window's values are drawn at its centre)"),
        ("files", f"{len(results)} classified, {_seconds(total)} of audio"
                  + (f"; {len(failures)} could not be read" if failures else "")),
        *([("normalisation", _normalisation_summary(results))]
          if any(result.normalization for result in results) else []),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Emotion report: {len(results)} files</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Emotion over time</h1>",
        "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>",
    ]
    if len(results) > 1:
        parts += ["<h2 style='margin-top:1em'>Files</h2>", "<table>",
                  "<tr><th>file</th><th>duration</th><th>"
                  + ("attributes" if dimensional else "label") + "</th></tr>"]
        parts += [
            f'<tr><td><a href="#file-{k}">{_escape(r.path)}</a></td>'
            f'<td class="num">{format_time(r.duration)}</td><td>{_summary(r)}</td></tr>'
            for k, r in enumerate(results)
        ]
        parts.append("</table>")
    if failures:
        parts += ['<section class="failed">', "<h2 style='margin-top:1em'>Could not be read</h2>",
                  "<ul>"]
        parts += [f"<li>{_escape(message)}</li>" for _, message in failures]
        parts += ["</ul>", "</section>"]
    parts += [_file_section(k, result, folder) for k, result in enumerate(results)]
    parts += [
        '<p class="note">Written by care-classify. Time in minutes:seconds; the players find '
        "the recordings by their path relative to this page.</p>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(path, results, failures, labels, source, window, hop, dimensional=False):
    """Writes the HTML report of a ``care-classify`` run (atomically).

    Arguments
    ---------
    path : str
        The ``.html`` file.
    results : list of care.processing.windows.FileResult
        The classified files.
    failures : list of (str, str)
        ``(path, message)`` of the files that could not be read.
    labels : list of str
        The classifier's classes (or attributes).
    source : str
        The classifier (folder or hub id), shown in the header.
    window, hop : float
        Seconds.
    dimensional : bool
        Whether ``labels`` are attributes.

    Returns
    -------
    str
        ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    write_text(path, report_html(results, failures, labels, source, window, hop, folder,
                                 dimensional))
    return path


# What care-classify writes starts with one of these: a report (its <title>
# within the first bytes), a table (its header) or JSON lines (a file key).
_OURS = (re.compile(r"^<!DOCTYPE html>.*<title>Emotion report:", re.S),
         re.compile(r"^file +duration_s( |$)", re.M), re.compile(r'^\{"file": '))


def written_by_care_classify(path):
    """Whether the existing file ``path`` is empty or starts like a report,
    table or JSON lines of ``care-classify`` (so that writing over it loses
    nothing else)."""
    with open(path, "rb") as handle:
        head = handle.read(4096).decode("utf-8", errors="replace")
    return not head or any(pattern.match(head) for pattern in _OURS)


def output_problem(path, inputs=()):
    """Why ``care-classify`` must not write results or a report to ``path``
    (None when it may): a folder, one of the ``inputs``, an existing file it
    did not write (a recording named where a report name was forgotten), a
    parent that is a file, or a folder it cannot write in. Checked before any
    file is classified, so that no work and no file is lost.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> recording = os.path.join(folder, "rec1.wav")
    >>> _ = open(recording, "wb").write(b"RIFF....WAVEfmt ")
    >>> output_problem(recording, [recording])
    'is one of the inputs: refusing to write over it'
    >>> output_problem(os.path.join(recording, "report.html"))  # doctest: +ELLIPSIS
    '...rec1.wav is a file, not a folder'
    >>> output_problem(os.path.join(folder, "report.html")) is None
    True
    """
    if os.path.isdir(path):
        return "is a directory"
    real = os.path.realpath(path)
    if any(os.path.realpath(item) == real for item in inputs):
        return "is one of the inputs: refusing to write over it"
    if os.path.lexists(path):
        try:
            ours = os.path.isfile(path) and written_by_care_classify(path)
        except OSError as error:
            return f"cannot read it to check what it is ({error.strerror or error})"
        if not ours:
            return ("exists and is not a table, JSON lines or report written by care-classify "
                    "(a recording? a forgotten file name?): refusing to write over it; remove it "
                    "or choose another name")
    folder = os.path.dirname(os.path.abspath(path))
    above = folder
    while not os.path.lexists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        return f"{above} is a file, not a folder"
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".care-classify-"):
            pass
    except OSError as error:
        return f"cannot write there ({error.strerror or error})"
    return None
