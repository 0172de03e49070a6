"""What a person looks at: the HTML report of ``care-classify --report``
(its content everywhere; rendered by headless Chromium where installed), the
timeline figure of the Python API, a probing run's ``layer_weights.png`` and
the benchmark's ``--plot``."""

import html.parser
import os
import re
import shutil
import subprocess
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image
from speechbrain.dataio import audio_io

from care.inference import EmotionRecognizer, save_classifier
from care.lobes import CAREEncoder, CAREFeatures, EmotionProbe
from care.inference import plot_timeline
from care.plots import class_colours, plot_layer_weights, timeline_svg
from care.probing.figures import write_layer_weights
from care.processing.windows import FileResult, WindowResult, window_spans

from care.report import report_html, write_report
from conftest import REPO, TINY_ENCODER, load_module

LABELS = ["anger", "neutral", "sadness"]
ODD_NAME = "<script>alert(1)< & \"q\" 'a' é ü.wav"  # no "/": it is a file name


def synthetic(path, seconds, hop=4.0, window=8.0, labels=LABELS, switch=0.5, seed=0):
    """A FileResult of ``seconds`` whose windows are angry (class 0) up to
    ``switch`` of the recording and sad (the last class) after it."""
    generator = torch.Generator().manual_seed(seed)
    windows = []
    for start, end in window_spans(round(100 * seconds), round(100 * window), round(100 * hop)):
        start, end = start / 100, end / 100
        target = 0 if (start + end) / 2 < switch * seconds else len(labels) - 1
        logits = torch.randn(len(labels), generator=generator) * 0.3
        logits[target] += 3.0
        p = logits.softmax(dim=-1)
        windows.append(WindowResult(start, end, labels[int(p.argmax())], float(p.max()), p))
    weights = torch.tensor([w.end - w.start for w in windows])
    probs = (torch.stack([w.probabilities for w in windows]) * weights[:, None]).sum(0) / weights.sum()
    return FileResult(path, seconds, list(labels), probs, labels[int(probs.argmax())],
                      float(probs.max()), int(probs.argmax()), windows)


def synthetic_dimensional(path, seconds, attributes=("arousal", "valence")):
    windows = []
    for k, start in enumerate(np.arange(0, seconds - 4, 2.0)):
        values = {a: 3.0 + np.sin(k / 3 + i) for i, a in enumerate(attributes)}
        windows.append(WindowResult(float(start), float(min(start + 4, seconds)), None, None, None,
                                    attributes=values))
    mean = {a: float(np.mean([w.attributes[a] for w in windows])) for a in attributes}
    return FileResult(path, seconds, list(attributes), None, None, None, None, windows,
                      attributes=mean)


class Tags(html.parser.HTMLParser):
    """Collects start tags (name, attributes) and the page's visible text."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    parser = Tags()
    parser.feed(page)
    return parser


# --- the report's content (everywhere) -----------------------------------------


def test_report_content_escaping_and_times(tmp_path):
    """Header (classifier, window, hop), one section with a timeline per file,
    labels and probabilities, durations and ticks in m:ss, the failed files
    with their reasons, and every outside name escaped (a file name cannot
    inject markup)."""
    folder = tmp_path / "recordings"
    results = [synthetic(str(folder / ODD_NAME), 84.0), synthetic(str(folder / "short.wav"), 3.2)]
    failures = [(str(folder / "bad<1>.wav"), f"{folder / 'bad<1>.wav'}: empty file")]
    page = report_html(results, failures, LABELS, "models/a&b", 8.0, 4.0, folder=str(tmp_path))
    parsed = parse(page)
    text = "".join(parsed.text)
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # ours only
    assert ODD_NAME in text and "bad<1>.wav: empty file" in text  # shown as text, unescaped once
    assert "&lt;script&gt;" in page and "&amp; &quot;q&quot; &#x27;a&#x27; é ü" in page
    assert "models/a&b" in text and "8 s / 4 s" in text
    assert "1:24 (84.0 s)" in text and "0:03 (3.2 s)" in text  # durations in m:ss
    sections = [a for tag, a in parsed.tags if tag == "section" and a.get("class") == "file"]
    svgs = [a for tag, a in parsed.tags if tag == "svg"]
    assert len(sections) == len(svgs) == 2
    assert svgs[0]["data-duration"] == "84.000"
    assert 0 < float(svgs[0]["data-x0"]) < float(svgs[0]["data-x1"]) < 1
    for label in LABELS:
        assert text.count(label) >= 4  # header, per file summary, legends
    for tick in ("0:00", "0:20", "0:40", "1:00", "1:20"):  # the 84 s timeline's axis
        assert f">{tick}<" in page
    first = results[0]
    assert f"{first.label} {first.score:.2f}" in text
    # Several SVGs in one page: their ids must not collide.
    ids = [a["id"] for _, a in parsed.tags if "id" in a]
    assert len(ids) == len(set(ids))
    assert "normalisation" not in text  # an unnormalised classifier's page says nothing of it


def test_report_header_counts_the_normalisation_groups(tmp_path):
    """A normalised classifier's page says in its header how many groups had their own
    statistics and how many files took the stored corpus statistics."""
    results = [synthetic(str(tmp_path / f"{name}.wav"), 3.0) for name in "abcdef"]
    for result, note in zip(results, ["statistics of group '03' (2 files, 2 windows)"] * 2
                            + ["statistics of group '08' (1 file, 5 windows)",
                               "stored corpus statistics (fallback: 1 window < 5)"]
                            + ["statistics of its own 6 windows"] * 2):  # two long files, each its own group
        result.normalization = note
    text = "".join(parse(report_html(results, [], LABELS, "c", 8.0, 4.0)).text)
    assert ("features z-scored as in training: 4 groups by their own statistics, 1 file by the "
            "training corpus's stored statistics") in text
    assert text.count("normalisation: ") == 6  # and each file's section says which


def test_report_audio_links_are_relative_and_resolve(tmp_path):
    folder = tmp_path / "data" / "sub dir"
    folder.mkdir(parents=True)
    path = folder / ODD_NAME
    path.write_bytes(b"")
    report = tmp_path / "reports" / "r.html"
    write_report(str(report), [synthetic(str(path), 12.0)], [], LABELS, "c", 8.0, 4.0)
    (audio,) = [a for tag, a in parse(report.read_text(encoding="utf-8")).tags if tag == "audio"]
    src = audio["src"]
    assert src.startswith("../data/sub%20dir/") and "<" not in src and " " not in src
    assert os.path.normpath(report.parent / urllib.parse.unquote(src)) == str(path)


def test_dimensional_report_shows_attribute_curves(tmp_path):
    results = [synthetic_dimensional(str(tmp_path / "talk.wav"), 40.0)]
    page = report_html(results, [], ["arousal", "valence"], "dim", 4.0, 2.0, dimensional=True)
    text = "".join(parse(page).text)
    assert "attributes" in text and "predicted value" in page
    values = results[0].attributes
    assert f"arousal {values['arousal']:.2f}" in text and f"valence {values['valence']:.2f}" in text
    assert "probability" not in page


def test_hour_long_report_stays_small(tmp_path):
    """An hour in 8 s windows every 4 s (900 windows) of seven classes: the
    page stays under 2 MB, and the PNG of the Python API is written."""
    labels = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
    result = synthetic(str(tmp_path / "hour.wav"), 3600.0, labels=labels)
    assert len(result.windows) == 899  # the last one ends at the end
    report = tmp_path / "hour.html"
    write_report(str(report), [result], [], labels, "c", 8.0, 4.0)
    assert report.stat().st_size < 2_000_000
    page = report.read_text(encoding="utf-8")
    for tick in ("0:00", "10:00", "50:00", "1:00:00"):
        assert f">{tick}<" in page
    png = tmp_path / "hour.png"
    assert plot_timeline(result, str(png)) == str(png)
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[1] > 800 and len(np.unique(image.reshape(-1, 3), axis=0)) > 20


def test_timeline_svg_labels_are_text_not_markup():
    """A class name with markup or a dollar sign (math in matplotlib) is shown
    as written."""
    labels = ["<b>", "a$b$", "ok"]
    svg = timeline_svg(synthetic("x.wav", 20.0, labels=labels))
    assert "&lt;b&gt;" in svg and "<b>" not in svg and "a$b$" in svg


# --- care-classify --report ---------------------------------------------------


@pytest.fixture(scope="module")
def classifier(clips, tmp_path_factory):
    """A tiny random CARE and an untrained probe, exported with 2 s windows."""
    torch.manual_seed(0)
    extractor = CAREFeatures(CAREEncoder(**TINY_ENCODER))
    probe = EmotionProbe(extractor.num_layers, extractor.dim, len(LABELS), hidden_dim=8).eval()
    probe.set_normalisation(torch.cat([extractor(c[None], torch.ones(1)) for c in clips[:2]]))
    folder = str(tmp_path_factory.mktemp("report") / "classifier")
    return save_classifier(folder, extractor, probe, LABELS, window=2.0, hop=1.0)


def test_cli_report(classifier, clips, tmp_path, capsys):
    """``--report``: a section per classified file (its windows, a player
    that finds the file), the unreadable file with its reason; the table
    still printed; a report that cannot be written is refused before any
    file is read."""
    from care.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    long, odd = folder / "long.wav", folder / ODD_NAME
    audio_io.save(str(long), torch.cat(clips[:3]).unsqueeze(0), 16000)
    audio_io.save(str(odd), clips[2].unsqueeze(0), 16000)
    (folder / "empty.wav").write_bytes(b"")
    report = tmp_path / "out" / "report.html"
    assert main(["--source", classifier, str(folder), "--report", str(report)]) == 1
    out, err = capsys.readouterr()
    assert "file" in out and "empty file" in err
    page = report.read_text(encoding="utf-8")
    parsed = parse(page)
    text = "".join(parsed.text)
    sections = [a for tag, a in parsed.tags if tag == "section" and a.get("class") == "file"]
    assert len(sections) == 2 and page.count("<svg") == 2
    assert "empty.wav: empty file" in text and "1 could not be read" in text
    assert ODD_NAME in text and "2 s / 1 s" in text and classifier in text
    recognizer = EmotionRecognizer.from_hparams(source=classifier, run_opts={"device": "cpu"})
    expected = recognizer.recognize_file(str(long))
    assert f"{len(expected.windows)} windows" in text
    assert f"{expected.label} {expected.score:.2f}" in text
    sources = [a["src"] for tag, a in parsed.tags if tag == "audio"]
    resolved = {os.path.normpath(report.parent / urllib.parse.unquote(s)) for s in sources}
    assert resolved == {str(long), str(odd)}

    with pytest.raises(SystemExit) as exit_info:
        main(["--source", classifier, str(long), "--report", str(tmp_path)])  # a folder
    assert exit_info.value.code == 2 and "--report" in capsys.readouterr().err


def test_plot_timeline_of_a_real_result(classifier, clips, tmp_path):
    """The README's Python API: recognize_file(...).windows drawn by
    care.inference.plot_timeline."""
    path = tmp_path / "clip.wav"
    audio_io.save(str(path), torch.cat(clips[:2]).unsqueeze(0), 16000)
    recognizer = EmotionRecognizer.from_hparams(source=classifier, run_opts={"device": "cpu"})
    result = recognizer.recognize_file(str(path))
    assert len(result.windows) > 1
    svg = tmp_path / "timeline.svg"
    plot_timeline(result, str(svg))
    text = svg.read_text()
    assert "clip.wav" in text and all(label in text for label in LABELS)
    assert "time (m:ss)" in text


# --- rendered in a browser (where Chromium is installed) --------------------------


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page, png, tmp_path, size=(1200, 1000)):
    """Renders a local HTML file with headless Chromium (no network: the
    report needs none)."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", page.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def pixels_of(image, colour, tolerance=12):
    """(rows, columns) of the pixels within ``tolerance`` of ``colour`` (#rrggbb)."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.nonzero(np.abs(image - rgb).max(axis=-1) <= tolerance)


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed "
                    "(Debian/Ubuntu: apt-get install chromium); the report's content is tested above")
def test_report_renders_a_timeline_in_chromium(tmp_path):
    """The report as a browser shows it: not blank, and the timeline drawn
    where it belongs: anger's colour over the first half of the plot, sadness's
    over the second, side by side in one band of the page."""
    result = synthetic(str(tmp_path / "talk.wav"), 120.0)
    page = tmp_path / "report.html"
    write_report(str(page), [result], [], LABELS, "classifier", 8.0, 4.0)
    image = screenshot(page, tmp_path / "report.png", tmp_path)
    assert image.std() > 20  # not a blank page
    anger, _, sadness = class_colours(LABELS)
    anger_rows, anger_cols = pixels_of(image, anger)
    sad_rows, sad_cols = pixels_of(image, sadness)
    width = image.shape[1]
    assert len(anger_cols) > 20_000 and len(sad_cols) > 20_000  # large areas, not a legend swatch
    # Time runs left to right: anger first, sadness after, each over about
    # a third of the page's width or more, in the same rows (one plot).
    assert np.median(anger_cols) < 0.5 * width < np.median(sad_cols)
    assert np.percentile(anger_cols, 95) - np.percentile(anger_cols, 5) > 0.25 * width
    assert np.percentile(sad_cols, 95) - np.percentile(sad_cols, 5) > 0.25 * width
    assert abs(np.median(anger_rows) - np.median(sad_rows)) < 0.1 * image.shape[0]


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed "
                    "(Debian/Ubuntu: apt-get install chromium)")
def test_report_player_finds_the_audio_in_chromium(tmp_path):
    """In a browser, the player loads the recording by its relative path
    (from a page in another folder, through an odd file name), and the line
    that follows playback sits at the played time on the time axis."""
    folder = tmp_path / "audio dir"
    folder.mkdir()
    path = folder / ODD_NAME
    audio_io.save(str(path), 0.1 * torch.randn(1, 16000 * 12), 16000)
    page = tmp_path / "reports" / "report.html"
    write_report(str(page), [synthetic(str(path), 12.0)], [], LABELS, "c", 8.0, 4.0)
    probe = """<script>
      var audio = document.querySelector("audio");
      audio.addEventListener("loadedmetadata", function () {
        audio.currentTime = 3;
        audio.dispatchEvent(new Event("timeupdate"));
        var svg = document.querySelector("svg");
        document.body.dataset.probe = [audio.duration, svg.dataset.x0, svg.dataset.x1,
          document.querySelector(".playhead").style.left].join(" ");
      });
      audio.preload = "metadata"; audio.load();
    </script></body>"""
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'data-probe="([^"]*)"', dom)
    assert match, "the audio did not load in the browser"
    duration, x0, x1, left = match.group(1).split()
    assert float(duration) == pytest.approx(12.0, abs=0.01)
    assert float(left.rstrip("%")) == pytest.approx(100 * (float(x0) + (float(x1) - float(x0)) / 4),
                                                    abs=0.01)


# --- probing and benchmark figures ---------------------------------------------


class FakeCARE:
    num_layers = 7
    layer_groups = {"input": [0], "shared": [1, 2], "semantic": [3, 4], "acoustic": [5, 6]}


def fake_runs(num_weights, folds=("03", "08"), seeds=(1, 2)):
    rng = np.random.default_rng(0)
    return [{"fold": fold, "seed": seed, "layer_weights": rng.dirichlet(np.ones(num_weights)).tolist()}
            for seed in seeds for fold in folds]


def test_layer_weights_figure(tmp_path):
    """One row per fold and seed, CARE's groups named; a probe that weights
    a single layer (eGeMAPS) gets no figure."""
    path = write_layer_weights(str(tmp_path), fake_runs(7), FakeCARE(), {"layers": None}, "t")
    assert path == str(tmp_path / "layer_weights.png")
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.std() > 20
    svg = tmp_path / "weights.svg"
    weights = {f"fold {r['fold']} seed {r['seed']}": r["layer_weights"] for r in fake_runs(7)}
    plot_layer_weights(weights, [str(i) for i in range(7)], str(svg),
                       ["input", "shared", "shared", "semantic", "semantic", "acoustic", "acoustic"])
    text = svg.read_text()
    for name in ("input", "shared", "semantic", "acoustic", "fold 03 seed 1", "fold 08 seed 2"):
        assert f">{name}<" in text
    egemaps = type("E", (), {"num_layers": 1})()
    assert write_layer_weights(str(tmp_path / "e"), fake_runs(1), egemaps, {"layers": None}) is None
    assert not (tmp_path / "e").exists()
    with pytest.raises(ValueError, match="layer weights"):
        plot_layer_weights(weights, ["0", "1"], str(tmp_path / "bad.png"))


def test_benchmark_plot(tmp_path, monkeypatch):
    """``recipes/benchmark.py --plot``: every encoder and dataset drawn from
    its per-fold scores."""
    benchmark = load_module(REPO / "recipes" / "benchmark.py")
    drawn = {}

    def fake_run(recipe_dir, argv):
        corpus = recipe_dir.parent.name.lower()
        source = argv[argv.index("--encoder_source") + 1]
        folds = {f: {"weighted_f1": 0.5 + 0.1 * k + (0.1 if source == "b" else 0), "ua": 0.4}
                 for k, f in enumerate(("03", "08", "09"))}
        summary = {"per_fold": folds, "mean": {"weighted_f1": 0.6, "ua": 0.4},
                   "std_folds": {"weighted_f1": 0.1, "ua": 0.0}}
        return {"probe_head": "mlp", "metrics": summary, "seeds": [1], "protocol": "p",
                "output_folder": str(tmp_path / corpus), "speaker_independent": True}

    def fake_plot(series, datasets, path, metric, title):
        drawn.update(series=series, datasets=datasets, path=path, metric=metric)
        return original(series, datasets, path, metric, title)

    original = benchmark.plot_scores
    monkeypatch.setattr(benchmark, "run_dataset", fake_run)
    monkeypatch.setattr(benchmark, "plot_scores", fake_plot)
    for name in ("emodb", "urdu"):
        (tmp_path / name).mkdir()
    plot = tmp_path / "bench.svg"
    benchmark.main(["--encoder_source", "a", "--encoder_source", "b", "--datasets", "emodb,urdu",
                    "--data_folder", str(tmp_path), "--output_folder", str(tmp_path / "out"),
                    "--plot", str(plot)])
    assert drawn["series"]["b / mlp"]["urdu"] == pytest.approx([60.0, 70.0, 80.0])
    assert drawn["datasets"] == ["emodb", "urdu"] and drawn["metric"] == "weighted F1 (%)"
    text = plot.read_text()
    assert all(f">{name}<" in text for name in ("a / mlp", "b / mlp", "emodb", "urdu"))
