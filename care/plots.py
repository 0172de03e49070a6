"""Figures of what a classifier hears and what a probe learned, drawn with
matplotlib's Agg backend (no display needed) and written atomically:

- :func:`draw_timeline` (``care.inference.plot_timeline`` for users): the per-window class probabilities of one
  recording over time (stacked, so the most probable class is the widest
  band), or a dimensional classifier's attribute curves; time in m:ss.
- :func:`plot_layer_weights`: a probe's layer weights per fold and seed, with
  the encoder's layer groups (for CARE: input, shared, semantic, acoustic)
  marked.
- :func:`plot_scores`: a score per encoder and corpus with its spread over
  test folds (``recipes/benchmark.py --plot``).

This module sits at the bottom of the package (it imports only
``care.io``), so that inference and probing can both draw with it. A timeline
reads any object shaped like ``care.processing.windows.FileResult``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import contextlib
import io
import os
import re

import numpy as np

from care.io import atomic_path

# Colours people tend to expect for common emotion names (matched by the
# label's first three letters: anger, angry, ang); other labels take the next
# unused colour of PALETTE.
EMOTION_COLOURS = {
    "ang": "#d62728", "hap": "#f2b701", "joy": "#f2b701", "sad": "#1f77b4", "neu": "#9a9a9a",
    "fea": "#7b3294", "dis": "#2ca02c", "bor": "#8c564b", "sur": "#e377c2", "cal": "#17becf",
    "fru": "#ff7f0e", "exc": "#bcbd22", "con": "#393b79",
}  # fmt: skip
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
)  # fmt: skip
# Tick spacings (seconds) a time axis chooses from: at most about 10 ticks.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400)
GROUP_COLOURS = {"input": "#e8e8e8", "shared": "#d9e6f2", "semantic": "#f6e3c6",
                 "acoustic": "#dcefd8", "semantic+acoustic": "#e9ead0"}  # fmt: skip


def format_time(seconds):
    """``m:ss`` (``h:mm:ss`` from an hour on), rounded down to the second.

    Example
    -------
    >>> format_time(0), format_time(75.9), format_time(600), format_time(3725)
    ('0:00', '1:15', '10:00', '1:02:05')
    """
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def time_step(duration, max_ticks=10):
    """The spacing (seconds, from :data:`TIME_STEPS`) of a time axis over
    ``duration`` seconds with at most ``max_ticks`` intervals.

    Example
    -------
    >>> time_step(8), time_step(75), time_step(3600)
    (1, 10, 600)
    """
    return next((step for step in TIME_STEPS if duration / step <= max_ticks), TIME_STEPS[-1])


def class_colours(labels):
    """One colour per label: :data:`EMOTION_COLOURS` for known emotion names,
    else the next unused :data:`PALETTE` colour.

    Example
    -------
    >>> class_colours(["angry", "neutral", "other"])
    ['#d62728', '#9a9a9a', '#1f77b4']
    """
    colours = [EMOTION_COLOURS.get(str(label).lower()[:3]) for label in labels]
    unused = [c for c in PALETTE if c not in colours]
    unused += [c for c in PALETTE if c not in unused]  # more labels than colours: repeat
    spare = iter(unused * (len(labels) // len(unused) + 1))
    return [colour or next(spare) for colour in colours]


@contextlib.contextmanager
def _pyplot(salt="care"):
    """pyplot on the Agg backend, with text kept as text in SVG (smaller,
    searchable; matplotlib's own font, the browser's sans-serif where it
    lacks it), labels never read as math (``$`` in a class name), no date
    in the files (identical input, identical file) and ``salt`` in the
    hashes behind SVG ids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = {"svg.fonttype": "none", "svg.hashsalt": salt, "text.parse_math": False,
                "font.size": 9, "font.sans-serif": ["DejaVu Sans"]}  # fmt: skip
    with matplotlib.rc_context(settings):
        yield plt


def _save(fig, path):
    """Writes ``fig`` atomically in the format of ``path``'s extension."""
    extension = os.path.splitext(str(path))[1].lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=extension, dpi=120, metadata=_metadata(extension))
    return path


def _metadata(extension):
    """No creation date in SVG and PDF (identical figures, identical files)."""
    return {"Date": None} if extension in ("svg", "pdf") else None


def _time_axis(ax, duration):
    """x axis from 0 to ``duration`` seconds, ticks in m:ss."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    ax.set_xlim(0, max(duration, 1e-3))
    ax.xaxis.set_major_locator(MultipleLocator(time_step(duration)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_time(value)))
    ax.set_xlabel("time (m:ss)")


def _timeline_axes(plt, result, title=None, width=9.0):
    """The timeline figure of ``result`` (see :func:`draw_timeline`)."""
    windows = list(result.windows)
    duration = float(result.duration)
    fig, ax = plt.subplots(figsize=(width, 2.4))
    centres = np.array([(w.start + w.end) / 2 for w in windows])
    # Each window's values hold from half-way to the previous centre to
    # half-way to the next (steps), and up to the recording's ends.
    times = np.concatenate([[0.0], centres, [duration]])
    if result.attributes is not None:
        names = list(result.labels)
        values = np.array([[w.attributes[a] for a in names] for w in windows], dtype=float)
        values = np.concatenate([values[:1], values, values[-1:]])
        for k, (name, colour) in enumerate(zip(names, class_colours(names))):
            ax.plot(times, values[:, k], drawstyle="steps-mid", color=colour, lw=1.6,
                    label=f"{name} ({result.attributes[name]:.2f})")
        ax.set_ylabel("predicted value")
        ax.grid(axis="y", color="#dddddd", lw=0.6)
    else:
        names = list(result.labels)
        values = np.array([np.asarray(w.probabilities, dtype=float) for w in windows])
        values = np.concatenate([values[:1], values, values[-1:]])
        aggregate = np.asarray(result.probabilities, dtype=float)
        ax.stackplot(times, values.T, colors=class_colours(names), step="mid", lw=0,
                     labels=[f"{name} ({p:.2f})" for name, p in zip(names, aggregate)])
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
    _time_axis(ax, duration)
    ax.margins(x=0)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1] if result.attributes is None else handles,
              labels[::-1] if result.attributes is None else labels,
              loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig, ax


def draw_timeline(result, path, title=None):
    """Draws a recording's per-window timeline and saves it to ``path``
    (format from the extension: ``.png``, ``.svg``, ``.pdf``).

    A categorical classifier's windows are drawn as stacked class
    probabilities (each class a band, the legend giving the file's aggregate
    probabilities); a dimensional one's as one curve per attribute. Each
    window's values hold around its centre; time runs in m:ss.

    Arguments
    ---------
    result : care.processing.windows.FileResult
        From ``EmotionRecognizer.recognize_file``.
    path : str
        Where to write the figure (atomically).
    title : str, optional
        Default: the file's name and its aggregate label.

    Returns
    -------
    str
        ``path``.
    """
    if title is None:
        name = os.path.basename(str(result.path))
        title = name if result.attributes is not None else (
            f"{name}: {result.label} ({result.score:.2f})")
    with _pyplot() as plt:
        fig, _ = _timeline_axes(plt, result, title)
        try:
            return _save(fig, path)
        finally:
            plt.close(fig)


def timeline_svg(result, salt="care"):
    """The timeline of :func:`draw_timeline` (without title) as an SVG
    element to put inline in an HTML page: scales to the page's width; its
    ids start with ``salt`` (give each figure of a page its own); attributes
    ``data-x0`` and ``data-x1`` give the time axis's ends as fractions of its
    width and ``data-duration`` the seconds it spans."""
    with _pyplot(salt) as plt:
        fig, ax = _timeline_axes(plt, result)
        box = ax.get_position()
        buffer = io.StringIO()
        try:
            fig.savefig(buffer, format="svg", metadata=_metadata("svg"))
        finally:
            plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML declaration or DOCTYPE inside HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    # Path coordinates to 0.1 pt on one line: a third of the size, the same look.
    svg = re.sub(r' d="([^"]*)"', lambda m: ' d="' + " ".join(
        re.sub(r"^(-?\d+\.\d)\d+$", r"\1", token) for token in m.group(1).split()) + '"', svg)
    # Element ids (and the references to them) prefixed: unique in a page.
    svg = re.sub(r'( id="|url\(#|href="#)', rf"\1{salt}-", svg)
    extent = (f'data-x0="{box.x0:.4f}" data-x1="{box.x1:.4f}" '
              f'data-duration="{float(result.duration):.3f}"')
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                  rf'<svg\1 style="width:100%;height:auto" {extent}', svg, count=1)


def group_spans(groups):
    """``[(group, first, last)]`` of consecutive positions with the same
    group name (None: no group).

    Example
    -------
    >>> group_spans(["input", "shared", "shared", "semantic"])
    [('input', 0, 0), ('shared', 1, 2), ('semantic', 3, 3)]
    """
    spans = []
    for position, name in enumerate(groups):
        if spans and spans[-1][0] == name:
            spans[-1] = (name, spans[-1][1], position)
        else:
            spans.append((name, position, position))
    return spans


def plot_layer_weights(weights, names, path, groups=None, title=""):
    """Draws a probe's layer weights: each run's weights (one row per fold
    and seed in a heat map) and their mean with every run's value as a dot,
    the layer groups shaded and named.

    Arguments
    ---------
    weights : dict
        ``{run name (e.g. "fold_01 seed 1"): [weight per layer]}``.
    names : list of str
        The weighted layers' names (x axis).
    path : str
        Where to write the figure (atomically; format from the extension).
    groups : list of str, optional
        Each weighted layer's group (``input``, ``shared``, ``semantic``,
        ``acoustic``, or any name; None where it has none).
    title : str
        Above the figure.

    Returns
    -------
    str
        ``path``.
    """
    runs = list(weights)
    matrix = np.array([weights[run] for run in runs], dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"layer weights: {matrix.shape} values for {len(names)} layers")
    spans = group_spans(groups) if groups else []
    positions = np.arange(len(names))
    with _pyplot() as plt:
        height = 2.4 + 0.16 * len(runs)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(max(5.0, 0.45 * len(names) + 2.5), height), sharex=True,
            layout="constrained", gridspec_kw={"height_ratios": [2.2, max(1.0, 0.16 * len(runs))]})
        try:
            for name, first, last in spans:
                if name is not None:
                    top.axvspan(first - 0.5, last + 0.5, color=GROUP_COLOURS.get(name, "#eeeeee"),
                                zorder=0)
                    top.text((first + last) / 2, 1.0, name, transform=top.get_xaxis_transform(),
                             ha="center", va="bottom", fontsize=8)
            top.bar(positions, matrix.mean(axis=0), color="#4c72b0", width=0.6, zorder=2,
                    label=f"mean of {len(runs)} runs")
            jitter = np.linspace(-0.15, 0.15, len(runs)) if len(runs) > 1 else np.zeros(1)
            for k, row in enumerate(matrix):
                top.scatter(positions + jitter[k], row, s=7, color="black", alpha=0.5, zorder=3,
                            lw=0, label="one fold and seed" if k == 0 else None)
            top.axhline(1 / len(names), color="#888888", lw=0.8, ls="--", zorder=1,
                        label="uniform")
            top.set_ylabel("weight")
            top.set_ylim(0, max(float(matrix.max()) * 1.15, 2 / len(names)))
            fig.legend(fontsize=7, frameon=False, loc="outside lower center", ncols=3)
            image = bottom.imshow(matrix, aspect="auto", cmap="Blues", vmin=0,
                                  interpolation="nearest")
            for _, first, last in spans[1:]:
                bottom.axvline(first - 0.5, color="white", lw=1.5)
            bottom.set_yticks(range(len(runs)), runs, fontsize=6)
            bottom.set_xticks(positions, names, fontsize=7)
            bottom.set_xlabel("layer" if not any("+" in n for n in names)
                              else "layer (a depth: its layers side by side, joined by +)")
            fig.colorbar(image, ax=[top, bottom], fraction=0.03, pad=0.01, label="weight")
            if title:
                fig.suptitle(title, fontsize=9)
            return _save(fig, path)
        finally:
            plt.close(fig)


def series_styles(names, colour_keys=None):
    """The colour of each series and whether its bars are hatched: series of
    one key (``colour_keys``, ``{name: key}``; default: each its own) share a
    colour, and all but the first of a key are hatched.

    Example
    -------
    >>> colours, hatched = series_styles(["a", "b", "a, unnormalised"], {"a, unnormalised": "a"})
    >>> colours[0] == colours[2] != colours[1], hatched
    (True, [False, False, True])
    """
    keys = [(colour_keys or {}).get(name, name) for name in names]
    order = list(dict.fromkeys(keys))
    palette = PALETTE * (len(order) // len(PALETTE) + 1)
    return [palette[order.index(key)] for key in keys], [keys.index(key) != k for k, key in enumerate(keys)]


def plot_scores(series, datasets, path, metric="weighted F1 (%)", title="", colour_keys=None):
    """Grouped bars of a score per corpus (x) and series (encoder and probe),
    each bar the mean over test folds with every fold's value as a dot.

    Arguments
    ---------
    series : dict
        ``{series name: {dataset: [score per test fold]}}``; a dataset
        missing from a series leaves a gap.
    datasets : list of str
        The corpora, in order.
    path : str
        Where to write the figure (atomically; format from the extension).
    metric : str
        The y axis label.
    title : str
        Above the figure.
    colour_keys : dict, optional
        ``{series name: key}``: series of one key share a colour (e.g. one
        encoder under two settings), the first solid, the others hatched and
        lighter; without it, a colour per series.

    Returns
    -------
    str
        ``path``.
    """
    names = list(series)
    width = 0.8 / max(len(names), 1)
    colours, hatched = series_styles(names, colour_keys)
    with _pyplot() as plt:
        size = (max(5.0, 1.2 + len(datasets) * (0.5 + 0.35 * len(names))), 3.2 + 0.17 * len(names))
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        try:
            for k, name in enumerate(names):
                offset = (k - (len(names) - 1) / 2) * width
                for d, dataset in enumerate(datasets):
                    folds = np.asarray(series[name].get(dataset, []), dtype=float)
                    if not folds.size:
                        continue
                    x = d + offset
                    ax.bar(x, folds.mean(), width * 0.9, color=colours[k], alpha=0.45 if hatched[k] else 0.8,
                           hatch="///" if hatched[k] else None, edgecolor="white" if hatched[k] else None,
                           label=name)
                    ax.errorbar(x, folds.mean(), yerr=folds.std(ddof=1) if folds.size > 1 else 0,
                                color="black", lw=0.8, capsize=2)
                    spread = np.linspace(-width * 0.25, width * 0.25, folds.size)
                    ax.scatter(x + spread, folds, s=6, color="black", alpha=0.6, lw=0, zorder=3)
            handles, labels = ax.get_legend_handles_labels()
            unique = dict(zip(labels, handles))
            fig.legend(unique.values(), unique.keys(), fontsize=7, frameon=False,
                       loc="outside lower center")
            ax.set_xticks(range(len(datasets)), datasets)
            ax.set_ylabel(metric)
            ax.grid(axis="y", color="#dddddd", lw=0.6)
            ax.set_axisbelow(True)
            if title:
                fig.suptitle(title, fontsize=8)
            return _save(fig, path)
        finally:
            plt.close(fig)
