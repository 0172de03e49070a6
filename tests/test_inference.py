"""Inference: the EmotionRecognizer interface on an exported classifier (round
trip, files of any rate and channel count, long recordings read window by
window), the segment reader, and the care-classify command line."""

import json
import math
import os
import subprocess
import sys
import tomllib
import tracemalloc

import numpy as np
import pytest
import soundfile
import torch
from speechbrain.dataio import audio_io

from care.cli import find_audio, main
from care.inference import CLASSIFIER_CLASSES, EmotionRecognizer, save_classifier
from care.lobes import CAREEncoder, CAREFeatures, EmotionProbe
from care.processing.audio import AudioError, load_audio
from care.processing.stream import AudioStream
from care.processing.windows import window_spans
from conftest import REPO, TINY_ENCODER, deny_folder

LABELS = ["angry", "happy", "neutral"]
TARGETS = [0, 1, 2, 0, 1]  # one per clip of the `clips` fixture
TINY = TINY_ENCODER


def batch_of(clips):
    longest = max(len(c) for c in clips)
    wavs = torch.stack([torch.nn.functional.pad(c, (0, longest - len(c))) for c in clips])
    return wavs, torch.tensor([len(c) / longest for c in clips])


@pytest.fixture(scope="module")
def trained(clips, tmp_path_factory):
    """A tiny random encoder and a probe fitted to give each clip its target
    class, exported; plus the probabilities computed before export."""
    torch.manual_seed(0)
    extractor = CAREFeatures(CAREEncoder(**TINY))
    wavs, lens = batch_of(clips)
    features = extractor(wavs, lens)
    probe = EmotionProbe(
        extractor.num_layers, extractor.dim, len(LABELS), hidden_dim=32, dropout=0.0
    )
    probe.set_normalisation(features)
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(probe(features), torch.tensor(TARGETS)).backward()
        optimizer.step()
    probe.eval()
    with torch.no_grad():
        expected = probe(extractor(wavs, lens)).softmax(dim=-1)
    assert expected.argmax(dim=-1).tolist() == TARGETS  # the probe has learned them
    folder = str(tmp_path_factory.mktemp("export") / "classifier")
    save_classifier(folder, extractor, probe, LABELS, info={"test": True}, window=2.0, hop=1.0)
    return dict(
        folder=folder, extractor=extractor, probe=probe, expected=expected, wavs=wavs, lens=lens
    )


@pytest.fixture(scope="module")
def recognizer(trained, tmp_path_factory):
    return EmotionRecognizer.from_hparams(
        source=trained["folder"],
        savedir=str(tmp_path_factory.mktemp("savedir")),
        run_opts={"device": "cpu"},
    )


def write(path, audio, rate, channels=1):
    """Writes a mono 16 kHz clip at another rate / channel count."""
    import torchaudio.functional as AF

    audio = AF.resample(audio, 16000, rate) if rate != 16000 else audio
    audio_io.save(str(path), audio.unsqueeze(0).repeat(channels, 1), rate)
    return str(path)


# --- the interface ----------------------------------------------------------


def test_round_trip_predictions(trained, recognizer):
    out_prob, score, index, text_lab = recognizer.classify_batch(trained["wavs"], trained["lens"])
    assert out_prob.shape == (5, 3) and score.shape == (5,) and index.shape == (5,)
    torch.testing.assert_close(out_prob, trained["expected"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_prob.sum(dim=-1), torch.ones(5))
    torch.testing.assert_close(score, out_prob.max(dim=-1).values)
    assert index.tolist() == TARGETS
    assert text_lab == [LABELS[i] for i in TARGETS]
    assert recognizer.labels == LABELS
    assert not any(p.requires_grad for p in recognizer.mods.parameters())


def test_from_hparams_without_savedir(trained):
    recognizer = EmotionRecognizer.from_hparams(
        source=trained["folder"], run_opts={"device": "cpu"}
    )
    out_prob, *_ = recognizer.classify_batch(trained["wavs"][:1], trained["lens"][:1])
    torch.testing.assert_close(out_prob, trained["expected"][:1], atol=1e-5, rtol=1e-4)


def test_encode_batch(trained, recognizer):
    wavs, lens = trained["wavs"][:2], trained["lens"][:2]
    encoder = trained["extractor"].encoder
    with torch.no_grad():
        out = encoder(wavs, lens)
    semantic = recognizer.encode_batch(wavs, lens, kind="semantic")
    acoustic = recognizer.encode_batch(wavs, lens, kind="acoustic")
    torch.testing.assert_close(semantic, out.semantic)
    assert acoustic.shape == (2, TINY["d_model"])
    # The acoustic embedding pools only the valid frames of the last acoustic layer.
    valid = round(float(out.lengths[1]) * out.hidden_states.shape[2])
    torch.testing.assert_close(acoustic[1], out.hidden_states[-1, 1, :valid].mean(dim=0))
    torch.testing.assert_close(
        recognizer.encode_batch(wavs, lens, kind="both"), torch.cat([semantic, acoustic], -1)
    )
    layers = recognizer.encode_batch(wavs, lens, kind="layers")
    torch.testing.assert_close(layers, trained["extractor"](wavs, lens))
    assert recognizer.encode_batch(wavs[0]).shape == (1, TINY["text_dim"] + TINY["d_model"])
    with pytest.raises(ValueError, match="kind must be one of"):
        recognizer.encode_batch(wavs, lens, kind="prosody")


class FrameEnergy(torch.nn.Module):
    """A non-CARE extractor: log energy statistics, ``[batch, 1, 2]``."""

    num_layers, dim = 1, 2

    def forward(self, wavs, wav_lens=None):
        frames = wavs.unfold(1, 400, 160).pow(2).mean(-1).clamp(min=1e-8).log()
        return torch.stack([frames.mean(-1), frames.std(-1)], dim=-1).unsqueeze(1)


def test_non_care_extractor(trained):
    from speechbrain.dataio.encoder import CategoricalEncoder

    label_encoder = CategoricalEncoder()
    label_encoder.update_from_iterable(LABELS)
    recognizer = EmotionRecognizer(
        modules={"extractor": FrameEnergy(), "probe": EmotionProbe(1, 2, 3)},
        hparams={"label_encoder": label_encoder, "sample_rate": 16000},
        run_opts={"device": "cpu"},
    )
    wavs = trained["wavs"][:2]
    assert recognizer.classify_batch(wavs)[0].shape == (2, 3)
    assert recognizer.encode_batch(wavs, kind="layers").shape == (2, 1, 2)
    with pytest.raises(TypeError, match="needs a CARE encoder.*FrameEnergy.*kind='layers'"):
        recognizer.encode_batch(wavs, kind="semantic")
    with pytest.raises(ValueError, match="3 outputs but the label encoder 2 labels"):
        short = CategoricalEncoder()
        short.update_from_iterable(LABELS[:2])
        EmotionRecognizer(
            modules={"extractor": FrameEnergy(), "probe": EmotionProbe(1, 2, 3)},
            hparams={"label_encoder": short, "sample_rate": 16000},
        )


@pytest.mark.parametrize(
    "rate, channels, name",
    [(8000, 1, "a.wav"), (22050, 2, "b.flac"), (44100, 2, "c.wav"), (48000, 1, "d.ogg")],
)
def test_classify_file_any_rate_and_channels(clips, recognizer, tmp_path, rate, channels, name):
    path = write(tmp_path / name, clips[0][:24000], rate, channels)  # 1.5 s: one window
    out_prob, score, index, text_lab = recognizer.classify_file(path)
    assert out_prob.shape == (1, 3) and text_lab == [LABELS[int(index)]]
    torch.testing.assert_close(out_prob.sum(), torch.tensor(1.0))
    # Same as classifying the whole file loaded and resampled at once.
    expected, *_ = recognizer.classify_batch(load_audio(path))
    torch.testing.assert_close(out_prob, expected, atol=1e-5, rtol=1e-4)


def test_stereo_equals_mono(clips, recognizer, tmp_path):
    mono = recognizer.classify_file(write(tmp_path / "mono.wav", clips[1], 44100))[0]
    stereo = recognizer.classify_file(write(tmp_path / "stereo.wav", clips[1], 44100, 2))[0]
    torch.testing.assert_close(mono, stereo, atol=1e-5, rtol=1e-4)


def test_sample_clips(recognizer):
    """The repository's public clips: FLAC at 22.05 kHz, WAV at 8 kHz."""
    for path in ("ljspeech/wavs/LJ001-0002.flac", "fsdd/recordings/0_george_0.wav"):
        result = recognizer.recognize_file(str(REPO / "tests" / "samples" / path))
        assert result.label in LABELS
        assert math.isclose(float(result.probabilities.sum()), 1, rel_tol=1e-5)


def test_unusable_files_raise_with_the_name(recognizer, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio\n" * 50)
    audio_io.save(str(tmp_path / "blip.wav"), torch.zeros(1, 100), 16000)  # 6 ms
    cases = {"missing.wav": "no such file", "empty.wav": "empty file", "notes.txt": "not readable",
             "blip.wav": "too short"}  # fmt: skip
    for name, reason in cases.items():
        with pytest.raises(AudioError, match=f"{name}: {reason}"):
            recognizer.classify_file(str(tmp_path / name))


# --- long recordings ---------------------------------------------------------


def test_window_spans_cover_the_recording():
    for total in (1, 399, 800, 801, 1000, 12345):
        for window, hop in ((800, 400), (800, 800), (800, 300)):
            spans = window_spans(total, window, hop)
            assert spans[0][0] == 0 and spans[-1][1] == total
            assert all(b[0] - a[0] == hop for a, b in zip(spans, spans[1:]))
            assert all(stop - start <= window for start, stop in spans)
            assert all(a[1] >= b[0] for a, b in zip(spans, spans[1:]))  # no gaps
    assert window_spans(1000, 500, 250, min_samples=1) == [(0, 500), (250, 750), (500, 1000)]
    assert window_spans(1010, 500, 500, min_samples=20) == [(0, 500), (500, 1000)]
    with pytest.raises(ValueError, match="hop <= window"):
        window_spans(1000, 500, 600)


@pytest.fixture(scope="module")
def long_file(clips, tmp_path_factory):
    """Two minutes of 44.1 kHz stereo (the clips repeated, plus noise),
    written block by block."""
    import torchaudio.functional as AF

    path = str(tmp_path_factory.mktemp("long") / "long.wav")
    speech = AF.resample(torch.cat(clips), 16000, 44100)
    generator = torch.Generator().manual_seed(1)
    with soundfile.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as out:
        written = 0
        while written < 120 * 44100:
            noise = 0.01 * torch.randn(2, len(speech), generator=generator)
            out.write((speech[None] + noise).clamp(-1, 1).T.numpy())
            written += len(speech)
    return path


def test_long_file_timeline(recognizer, long_file):
    result = recognizer.recognize_file(long_file, window=8.0, hop=4.0, batch_size=4)
    num_samples = -(-soundfile.info(long_file).frames * 160 // 441)
    assert result.duration == num_samples / 16000
    spans = window_spans(num_samples, 128000, 64000, recognizer.min_samples)
    assert [(round(w.start * 16000), round(w.end * 16000)) for w in result.windows] == spans
    assert len(result.windows) > 25 and result.windows[-1].end == result.duration
    # Aggregate: window probabilities averaged, weighted by window length.
    weights = torch.tensor([w.end - w.start for w in result.windows])
    assert weights[-1] < weights[0]  # the last window is shorter
    probs = torch.stack([w.probabilities for w in result.windows])
    weighted = (probs * weights[:, None]).sum(0) / weights.sum()
    torch.testing.assert_close(result.probabilities, weighted)
    assert result.label == LABELS[int(result.probabilities.argmax())]
    assert result.score == float(result.probabilities.max())
    # Windows read and resampled on their own equal slices of the whole file.
    whole = load_audio(long_file)
    for k in (0, len(spans) // 2, len(spans) - 1):
        start, stop = spans[k]
        expected, *_ = recognizer.classify_batch(whole[start:stop])
        got = result.windows[k].probabilities
        torch.testing.assert_close(got, expected[0], atol=1e-4, rtol=1e-3)


def test_windows_batched_across_files(clips, recognizer, tmp_path):
    """Batch size and batch-mates change nothing (padding is masked);
    classify_file returns the aggregate in EncoderClassifier's form."""
    paths = [write(tmp_path / f"{i}.wav", clip, 22050) for i, clip in enumerate(clips)]
    batched = dict(recognizer.recognize_files(paths, window=1.0, hop=0.5, batch_size=5))
    assert list(batched) == paths
    for path in paths[::2]:
        alone = recognizer.recognize_file(path, window=1.0, hop=0.5, batch_size=1)
        got = batched[path].probabilities
        torch.testing.assert_close(got, alone.probabilities, atol=1e-5, rtol=1e-4)
        out_prob, score, index, text_lab = recognizer.classify_file(path, window=1.0, hop=0.5)
        torch.testing.assert_close(out_prob[0], alone.probabilities)
        assert text_lab == [alone.label] and int(index) == alone.index


def test_long_file_memory_is_bounded(recognizer, long_file, monkeypatch):
    """Only one window (plus resampling context) is decoded at a time: the
    reads are window-sized, nothing decodes the whole file, and the traced
    peak stays far below the decoded file (120 s x 44.1 kHz x 2 x 4 B = 42 MB)."""
    reads = []
    original = soundfile.SoundFile.read

    def recording_read(self, frames=-1, *args, **kwargs):
        reads.append(frames)
        return original(self, frames, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("the whole file was decoded")

    monkeypatch.setattr(soundfile.SoundFile, "read", recording_read)
    monkeypatch.setattr(audio_io, "load", refuse)
    monkeypatch.setattr(soundfile, "read", refuse)
    tracemalloc.start()
    try:
        result = recognizer.recognize_file(long_file, window=8.0, hop=8.0, batch_size=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(reads) == len(result.windows)
    assert 0 < max(reads) <= 8 * 44100 + 2000  # a window plus the filter's context
    assert peak < 8 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


def test_stream_segments_equal_the_whole_file(tmp_path):
    generator = torch.Generator().manual_seed(0)
    for rate in (8000, 11025, 22050, 44100, 48000, 16000):
        path = str(tmp_path / f"noise{rate}.flac")
        audio_io.save(path, 0.2 * torch.randn(2, int(3.3 * rate), generator=generator), rate)
        whole = load_audio(path)
        with AudioStream(path) as stream:
            assert stream.num_samples == len(whole) and stream.channels == 2
            parts = [stream.read(s, s + 7001) for s in range(0, stream.num_samples, 7001)]
        torch.testing.assert_close(torch.cat(parts), whole, atol=1e-5, rtol=0)


def test_stream_errors_name_the_file(tmp_path):
    path = str(tmp_path / "speech.flac")
    soundfile.write(path, 0.3 * np.random.default_rng(0).standard_normal(80000), 16000)
    data = bytearray(open(path, "rb").read())
    tail = len(data) - len(data) // 3
    data[-tail:] = np.random.default_rng(1).integers(0, 256, tail, dtype=np.uint8).tobytes()
    (tmp_path / "corrupt.flac").write_bytes(bytes(data))
    soundfile.write(str(tmp_path / "zero.wav"), np.zeros(0), 16000)
    with AudioStream(str(tmp_path / "corrupt.flac")) as stream:
        with pytest.raises(AudioError, match="corrupt.flac: decoding failed"):
            stream.read(0, stream.num_samples)
    with pytest.raises(AudioError, match="zero.wav: contains no samples"):
        AudioStream(str(tmp_path / "zero.wav"))


# --- command line --------------------------------------------------------------


@pytest.fixture
def inputs(clips, tmp_path):
    """A folder with two good recordings (one in a sub-folder), a corrupt, an
    empty and a non-audio file with audio extensions, and a text file."""
    folder = tmp_path / "recordings"
    (folder / "sub").mkdir(parents=True)
    good = [
        write(folder / "one.wav", clips[0], 44100, 2),
        write(folder / "sub" / "two.flac", clips[2], 22050),
    ]
    data = bytearray(open(good[1], "rb").read())
    data[len(data) // 4 :] = bytes(len(data) - len(data) // 4)  # zeroed: the decoder loses sync
    (folder / "corrupt.flac").write_bytes(bytes(data))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "picture.mp3").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (folder / "readme.txt").write_text("not collected from a folder\n")
    return folder, good


def test_find_audio(inputs, tmp_path):
    folder, good = inputs
    (tmp_path / "nothing").mkdir()
    found = dict(
        find_audio([str(folder), str(tmp_path / "missing.wav"), str(tmp_path / "nothing")])
    )
    assert sorted(os.path.basename(p) for p, e in found.items() if e is None) == [
        "corrupt.flac", "empty.wav", "one.wav", "picture.mp3", "two.flac"
    ]  # fmt: skip
    assert "no such file" in found[str(tmp_path / "missing.wav")]
    assert "no audio files" in found[str(tmp_path / "nothing")]


def test_cli_reports_each_bad_file_and_goes_on(trained, inputs, tmp_path, capsys):
    folder, good = inputs
    missing, text = str(tmp_path / "missing.wav"), str(folder / "readme.txt")
    status = main(["--source", trained["folder"], str(folder), missing, text])
    out, err = capsys.readouterr()
    assert status == 1
    assert "5 of 7 inputs failed" in err
    for name, reason in [("corrupt.flac", "decoding failed"), ("empty.wav", "empty file"),
                         ("picture.mp3", "not readable as audio"), ("missing.wav", "no such file"),
                         ("readme.txt", "not readable as audio")]:  # fmt: skip
        assert any(name in line and reason in line for line in err.splitlines()), (name, err)
    lines = out.splitlines()
    assert lines[0].split() == ["file", "duration_s", "label", "score"] + LABELS
    assert [line.split()[0] for line in lines[1:]] == good
    assert len({len(line) for line in lines}) == 1  # aligned: right-justified last column


def test_cli_jsonl_output_file(trained, recognizer, inputs, tmp_path, capsys):
    folder, good = inputs
    output = tmp_path / "labels.jsonl"
    status = main(["--source", trained["folder"], *good, str(folder / "empty.wav"),
                   "--jsonl", "--output", str(output), "--batch_size", "3"])  # fmt: skip
    assert status == 1 and capsys.readouterr().out == ""
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["file"] for r in records] == good + [str(folder / "empty.wav")]
    for record in records[:2]:
        assert record["label"] in LABELS
        assert math.isclose(sum(record["probabilities"].values()), 1, rel_tol=1e-4)
        assert record["windows"][0]["start"] == 0
    assert "empty file" in records[2]["error"]
    for record, path in zip(records, good):  # the model's window (2 s) and hop (1 s)
        result = recognizer.recognize_file(path)
        assert len(record["windows"]) == len(result.windows)
        expected = result.probabilities.tolist()
        assert list(record["probabilities"].values()) == pytest.approx(expected, abs=1e-4)


def test_cli_success_timeline_and_usage_errors(trained, inputs, tmp_path, capsys):
    folder, good = inputs
    argv = ["--source", trained["folder"], good[1], "--timeline", "--window", "1", "--hop", "0.5"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[2].strip().startswith("0.00-1.00 s") and err == ""
    assert main(["--source", str(tmp_path / "no_model"), good[0]]) == 3
    assert "cannot load the classifier" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--source", trained["folder"], good[0], "--window", "1", "--hop", "2"])
    assert exit_info.value.code == 2


def test_module_entry_point_and_console_script(trained, inputs):
    folder, good = inputs
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run(
        [sys.executable, "-m", "care.cli", "--source", trained["folder"], good[0], "--jsonl"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["label"] in LABELS
    with open(REPO / "pyproject.toml", "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert scripts["care-classify"] == "care.cli:main"


# --- untrusted folders and silent wrong answers ----------------------------------


def injected(folder, tmp_path, line):
    """A copy of an exported ``folder`` with ``line`` appended to its YAML."""
    import shutil

    copy = tmp_path / ("evil_" + os.path.basename(folder))
    shutil.copytree(folder, copy)
    os.remove(copy / "checksums.sha256")  # an attacker drops (or rewrites) it
    with open(copy / "hyperparams.yaml", "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return str(copy)


def test_untrusted_classifier_refused_without_trust(trained, inputs, tmp_path, capsys):
    """Reproduction: an `!apply:os.system` appended to an exported classifier's
    YAML ran when care-classify loaded it. Now it is refused (exit 3) unless
    --trust, which shows the injection would indeed have run."""
    folder, good = inputs
    marker = tmp_path / "PWNED"
    evil = injected(trained["folder"], tmp_path, f'__x: !apply:os.system ["touch {marker}"]')
    assert main(["--source", evil, good[0]]) == 3
    err = capsys.readouterr().err
    assert "!apply:os.system" in err and "--trust" in err and "line" in err
    assert not marker.exists()
    with pytest.raises(Exception, match="not what care exports"):
        EmotionRecognizer.from_hparams(source=evil, savedir=str(tmp_path / "s"))
    assert not marker.exists()
    assert main(["--source", evil, good[0], "--trust"]) == 0  # the user's explicit choice
    assert marker.exists()


def test_untrusted_console_script_does_not_run_injected_command(trained, inputs, tmp_path):
    """An untrusted classifier, as a user would pass it: `care-classify --source EVIL x.wav`."""
    folder, good = inputs
    marker = tmp_path / "PWNED"
    evil = injected(trained["folder"], tmp_path, f'__x: !apply:os.system ["touch {marker}"]')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run(
        [sys.executable, "-m", "care.cli", "--source", evil, good[0]],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert run.returncode == 3 and "--trust" in run.stderr, run.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    "line, what",
    [
        ('__x: !!python/object/apply:os.system ["id"]', "python/object/apply"),
        ("__x: !name:os.system", "!name:os.system"),
        ("__x: !include:/etc/hostname", "!include"),
        ("__x: !ref <sample_rate> + 1", "!ref"),
        ("__x: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
         "    paths: {probe: /elsewhere/other.ckpt}", "argument paths"),
        ("__x: !new:speechbrain.utils.parameter_transfer.Pretrainer /elsewhere/x", "positional argument"),
        ("%TAG !p! tag:yaml.org,2002:python/object/apply:\n---\nx: 1", "directive"),
    ],
)  # fmt: skip
def test_untrusted_yaml_constructs_refused(trained, tmp_path, line, what):
    from care.lobes.export import UntrustedFolderError, check_hparams

    ours = os.path.join(trained["folder"], "hyperparams.yaml")
    check_hparams(ours, CLASSIFIER_CLASSES)  # our export passes
    evil = injected(trained["folder"], tmp_path, line)
    with pytest.raises(UntrustedFolderError, match=what):
        check_hparams(os.path.join(evil, "hyperparams.yaml"), CLASSIFIER_CLASSES)


def test_untrusted_encoder_folder_refused(tmp_path):
    """An exported encoder given as encoder_source: the same injection."""
    from care.lobes import load_encoder, save_encoder
    from care.lobes.export import UntrustedFolderError

    folder = save_encoder(CAREEncoder(**TINY), str(tmp_path / "encoder"))
    load_encoder(folder)  # our export loads
    marker = tmp_path / "PWNED"
    evil = injected(folder, tmp_path, f'__x: !apply:os.system ["touch {marker}"]')
    with pytest.raises(UntrustedFolderError, match="trust=True"):
        load_encoder(evil)
    assert not marker.exists()
    with open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    with open(os.path.join(evil, "hyperparams.yaml"), "w", encoding="utf-8") as handle:
        handle.write(text.replace("num_heads:", "speech_source: /elsewhere/any\n    num_heads:", 1))
    with pytest.raises(UntrustedFolderError, match="speech_source"):
        load_encoder(evil)


@pytest.fixture(scope="module")
def egemaps_classifier(tmp_path_factory):
    from care.lobes import EGeMAPSFeatures

    extractor = EGeMAPSFeatures()
    probe = EmotionProbe(1, extractor.dim, len(LABELS), hidden_dim=8)
    folder = str(tmp_path_factory.mktemp("egemaps") / "classifier")
    return save_classifier(folder, extractor, probe, LABELS)


def test_classifier_folder_writer_and_reader_agree(clips, tmp_path):
    """save_classifier and EmotionRecognizer, one module: what the writer is
    given (labels, window, hop, provenance, the extractor and probe) is what
    the reader uses; and a folder naming an extractor by a path that is not
    where care defines it (``care.probing.encoders``, a module that no longer
    exists) is refused untrusted, naming the path."""
    from care.lobes import EGeMAPSFeatures

    extractor = EGeMAPSFeatures()
    wavs, lens = batch_of(clips[:3])
    probe = EmotionProbe(1, extractor.dim, len(LABELS), hidden_dim=8).eval()
    probe.set_normalisation(extractor(wavs, lens))
    with torch.no_grad():
        expected = probe(extractor(wavs, lens)).softmax(dim=-1)
    folder = save_classifier(str(tmp_path / "new"), extractor, probe, LABELS,
                             info={"dataset": "toy", "fold": 3}, window=3.0, hop=1.5)
    text = open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8").read()
    assert "!new:care.lobes.EGeMAPSFeatures" in text
    old = tmp_path / "old"
    old.mkdir()
    for name in set(os.listdir(folder)) - {"checksums.sha256"}:  # exported before checksums
        (old / name).write_bytes(open(os.path.join(folder, name), "rb").read())
    (old / "hyperparams.yaml").write_text(
        text.replace("care.lobes.EGeMAPSFeatures", "care.probing.encoders.EGeMAPSFeatures"))
    recognizer = EmotionRecognizer.from_hparams(source=folder, savedir=str(tmp_path / "collect"))
    assert recognizer.labels == LABELS
    assert (recognizer.hparams.window, recognizer.hparams.hop) == (3.0, 1.5)
    assert recognizer.hparams.info == {"dataset": "toy", "fold": 3}
    torch.testing.assert_close(recognizer.classify_batch(wavs, lens)[0], expected)
    with pytest.raises(Exception, match="care.probing.encoders.EGeMAPSFeatures"):
        EmotionRecognizer.from_hparams(source=str(old), savedir=str(tmp_path / "collect-old"))


def test_short_clips_refused_not_labelled(egemaps_classifier, clips, tmp_path):
    """Reproduction: 25-60 ms clips passed the 25 ms minimum, openSMILE gave
    NaN features, nan_to_num made them zeros and every such clip got the same
    confident label. The eGeMAPS classifier now asks for 60 ms."""
    recognizer = EmotionRecognizer.from_hparams(source=egemaps_classifier)
    assert recognizer.min_samples == 960
    for ms in (30, 59):
        path = str(tmp_path / f"clip{ms}.wav")
        audio_io.save(path, clips[0][None, : 16 * ms], 16000)
        with pytest.raises(AudioError, match=f"clip{ms}.wav: too short.*at least 60 ms"):
            recognizer.classify_file(path)
    path = str(tmp_path / "clip60.wav")
    audio_io.save(path, clips[0][None, :960], 16000)
    features = recognizer.encode_batch(clips[0][:960], kind="layers")
    assert features.abs().sum() > 0 and torch.isfinite(features).all()
    assert recognizer.recognize_file(path).label in LABELS


def test_short_window_refused(trained, egemaps_classifier, inputs, capsys):
    """Reproduction: --window 0.01 --hop 0.01 classified only the first 10 ms
    of a 2 s file while reporting 2.0 s. Windows shorter than the classifier's
    shortest input, and non-finite values, are usage errors (exit 2)."""
    folder, good = inputs
    for source, window in ((trained["folder"], "0.01"), (egemaps_classifier, "0.05")):
        assert main(["--source", source, good[0], "--window", window, "--hop", "0.01"]) == 2
        assert "shorter than the shortest input" in capsys.readouterr().err
    for value in ("nan", "inf", "-1", "x"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--source", trained["folder"], good[0], "--window", value])
        assert exit_info.value.code == 2
    recognizer = EmotionRecognizer.from_hparams(source=trained["folder"])
    with pytest.raises(ValueError, match="shorter than the shortest input"):
        recognizer.recognize_file(good[0], window=0.01, hop=0.01)


def test_untrusted_cli_inputs_named_and_output_checked_first(trained, inputs, tmp_path, capsys, monkeypatch):
    """FIFOs, devices and link loops were reported as 'no such file'; an
    unreadable folder was skipped with exit 0; a newline in a file name split a
    table row; an unwritable --output failed after every file was classified."""
    folder, good = inputs
    os.mkfifo(tmp_path / "pipe.wav")
    os.symlink(tmp_path / "loop_b.wav", tmp_path / "loop_a.wav")
    os.symlink(tmp_path / "loop_a.wav", tmp_path / "loop_b.wav")
    os.symlink(tmp_path / "gone.wav", tmp_path / "dangling.wav")
    odd = tmp_path / "two\nlines.wav"
    odd.write_bytes(open(good[0], "rb").read())
    found = dict(find_audio([str(tmp_path / n) for n in ("pipe.wav", "loop_a.wav", "dangling.wav")]
                            + ["/dev/null"]))  # fmt: skip
    assert "FIFO" in found[str(tmp_path / "pipe.wav")]
    assert "link loop" in found[str(tmp_path / "loop_a.wav")]
    assert "broken symbolic link" in found[str(tmp_path / "dangling.wav")]
    assert "character device" in found["/dev/null"]

    locked = str(folder / "sub")
    deny_folder(monkeypatch, locked)
    assert main(["--source", trained["folder"], str(folder), str(odd)]) == 1
    out, err = capsys.readouterr()
    assert f"{locked}: cannot read the folder (Permission denied)" in err
    assert "two\\nlines.wav" in out and len(out.splitlines()) == 3  # header, one.wav, odd
    monkeypatch.undo()

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    classified = []
    monkeypatch.setattr(EmotionRecognizer, "recognize_files",
                        lambda *a, **k: classified.append(1) or iter(()))  # fmt: skip
    for output in (str(blocker / "labels.txt"), str(tmp_path)):
        with pytest.raises(SystemExit) as exit_info:
            main(["--source", trained["folder"], good[0], "--output", output])
        assert exit_info.value.code == 2 and "--output" in capsys.readouterr().err
    assert not classified  # refused before loading the model or reading a file
