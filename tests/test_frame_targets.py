"""Frame-level acoustic targets: alignment with the encoder, finiteness,
normalisation, batching, the disk backends' caches and errors."""

import math
import os

import numpy as np
import pytest
import torch
from speechbrain.dataio import audio_io

from care.lobes.encoder import CAREEncoder
from care.lobes.frontend import conv_output_lengths
from care.processing import NpyTargets, OpenSmileTargets, VocalFeatureTargets
from care.processing.audio import resampled_length
from care.processing.frame_targets import disk, opensmile
from care.processing.frame_targets import vocal as vocal_module
from care.processing.frame_targets import normalise_targets

SR = 16000
LENGTHS = [0, 1, 200, 399, 400, 401, 719, 720, 721, 1039, 1040, 3200, 4799, 16000, 16001, 33333, 80000]


@pytest.fixture(scope="module")
def vocal():
    return VocalFeatureTargets()


@pytest.fixture(scope="module")
def vocal_all():
    """Every optional descriptor, with smoothing."""
    return VocalFeatureTargets(gne=True, log_mels=True, smoothing=3)


def harmonic(seconds, f0, amplitude=0.3, seed=0):
    t = torch.arange(int(seconds * SR)) / SR
    wave = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    noise = 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(seed))
    return amplitude * wave / wave.abs().max() + noise


@pytest.mark.parametrize("samples", LENGTHS)
def test_frames_equal_encoder_frames(vocal, samples):
    wav = 0.1 * torch.randn(1, samples)
    targets, lengths = vocal(wav)
    assert targets.shape == (1, conv_output_lengths(samples), vocal.dim)
    assert torch.isfinite(targets).all()


def test_frames_equal_encoder_output(vocal, tiny_kwargs):
    """The targets line up with what the encoder actually outputs, padded
    batch included (same rounding of relative lengths)."""
    encoder = CAREEncoder(**tiny_kwargs).eval()
    wavs = 0.1 * torch.randn(3, 7777)
    wav_lens = torch.tensor([1.0, 0.61, 0.0517])  # 401 samples: one frame
    with torch.no_grad():
        out = encoder(wavs, wav_lens, output_hidden_states=False)
    targets, lengths = vocal(wavs, wav_lens)
    assert targets.shape[:2] == out.acoustic.shape[:2]
    assert torch.equal(lengths, out.lengths)
    frames = torch.round(lengths * targets.shape[1]).long()
    assert frames.tolist() == [conv_output_lengths(s) for s in (7777, 4744, 402)]


@pytest.mark.parametrize(
    "kernel_sizes, strides",
    [
        ((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)),  # WavLM's: 320-sample hop
        ((10, 3, 3, 3, 3, 2), (5, 2, 2, 2, 2, 2)),  # half the hop
        ((8, 4, 4, 3), (4, 4, 4, 3)),  # another field and hop
    ],
)
def test_changed_strides_keep_targets_on_encoder_frames(tiny_kwargs, kernel_sizes, strides):
    """The frame grid is defined once: an encoder and on-the-fly targets built
    with other strides still agree frame for frame (padded batch included),
    and pretraining refuses targets on another grid than the encoder's."""
    from care.pretraining import pretraining_datasets

    kwargs = dict(tiny_kwargs, conv_kernel_sizes=kernel_sizes, conv_strides=strides)
    encoder = CAREEncoder(**kwargs).eval()
    vocal = VocalFeatureTargets(kernel_sizes=kernel_sizes, strides=strides)
    assert vocal.grid == encoder.grid
    wavs = 0.1 * torch.randn(3, 7777)
    wav_lens = torch.tensor([1.0, 0.61, 0.0517])
    with torch.no_grad():
        out = encoder(wavs, wav_lens, output_hidden_states=False)
    targets, lengths = vocal(wavs, wav_lens)
    assert targets.shape[:2] == out.acoustic.shape[:2]
    assert torch.equal(lengths, out.lengths)
    for samples in LENGTHS:
        assert vocal.frame_lengths(samples) == encoder.frame_lengths(samples)
    if encoder.grid != VocalFeatureTargets().grid:
        hparams = {"crop_seconds": 1.0, "encoder": encoder, "frame_targets": VocalFeatureTargets()}
        with pytest.raises(ValueError, match="conv_strides"):
            pretraining_datasets(hparams, text_targets=None)


@pytest.mark.parametrize(
    "name, wav",
    [
        ("silence", torch.zeros(16000)),
        ("dc", torch.full((16000,), 0.5)),
        ("clipped", (10 * harmonic(1.0, 150)).clamp(-1, 1)),
        ("full-scale square", torch.sign(torch.sin(2 * math.pi * 100 * torch.arange(16000) / SR))),
        ("impulse", torch.nn.functional.pad(torch.ones(1), (8000, 7999))),
        ("tiny", 1e-9 * torch.randn(16000)),
        ("one frame", 0.1 * torch.randn(400)),
    ],
)
def test_finite_on_edge_cases(vocal, vocal_all, name, wav):
    for module in (vocal, vocal_all):
        targets, _ = module(wav.unsqueeze(0))
        assert torch.isfinite(targets).all(), name


def test_finite_and_normalised_on_real_clips(vocal, clips, clips_are_real):
    """On the clips fixture (real speech when CARE_DATA is present, generated
    tones otherwise): finite, zero-mean over valid frames, zero padding; on
    real speech, nearly every feature also varies (steady generated tones
    leave the spectral statistics flat, so that part needs real speech)."""
    wavs = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    wav_lens = torch.tensor([len(c) for c in clips]) / wavs.shape[1]
    targets, lengths = vocal(wavs, wav_lens)
    assert torch.isfinite(targets).all()
    frames = torch.round(lengths * targets.shape[1]).long()
    for row, count in zip(targets, frames):
        valid = row[:count]
        assert valid.mean(0).abs().max() < 1e-4
        # (x - mean) / (std + 1) has std < 1, and most features vary.
        assert (valid.std(0, unbiased=False) < 1).all()
        if clips_are_real:
            assert (valid.std(0) > 0.01).sum() >= vocal.dim - 2
        assert (row[count:] == 0).all()


def test_batch_equals_alone(vocal_all, clips):
    """A clip gives the same targets alone and zero-padded in a batch (the
    padding is masked out of every filter and of the normalisation)."""
    module = vocal_all
    clips = [clip[: int(1.5 * SR)] for clip in clips]  # GNE is slow on CPU
    wavs = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    wav_lens = torch.tensor([len(c) for c in clips]) / wavs.shape[1]
    batched, lengths = module(wavs, wav_lens)
    for index, clip in enumerate(clips):
        alone, _ = module(clip.unsqueeze(0))
        frames = alone.shape[1]
        assert torch.allclose(batched[index, :frames], alone[0], atol=2e-3), index
    # garbage in the padding region changes nothing either
    padding = torch.arange(wavs.shape[1]) >= torch.tensor([len(c) for c in clips]).unsqueeze(1)
    noisy = wavs + padding * torch.randn_like(wavs)
    assert torch.allclose(module(noisy, wav_lens)[0], batched, atol=2e-3)


@pytest.mark.parametrize("f0", [90.0, 150.0, 220.0, 350.0])
def test_f0_of_a_harmonic_tone(f0):
    raw = VocalFeatureTargets(normalise=False)
    targets, _ = raw(harmonic(1.0, f0).unsqueeze(0))
    estimate = 27.5 * 2 ** (targets[0, 2:-2, 0] / 12)  # edges see zero padding
    assert (estimate - f0).abs().max() < 0.05 * f0


def test_silence_is_unvoiced():
    raw = VocalFeatureTargets(normalise=False)
    targets, _ = raw(torch.zeros(1, 8000))
    assert (targets[0, :, 0] == 0).all()


def test_autocorrelation_matches_speechbrain():
    from speechbrain.processing.vocal_features import autocorrelate

    frames = torch.randn(2, 5, 800)
    ours = vocal_module._fft_autocorrelation(frames, torch.hann_window(800))
    assert torch.allclose(ours, autocorrelate(frames), atol=1e-4)


def test_normalise_targets():
    x = torch.randn(2, 10, 3) * 5 + 7
    lengths = torch.tensor([10, 4])
    out = normalise_targets(x, lengths)
    ref = (x[1, :4] - x[1, :4].mean(0)) / (x[1, :4].std(0, unbiased=False) + 1)
    assert torch.allclose(out[1, :4], ref, atol=1e-5)
    assert (out[1, 4:] == 0).all()
    assert torch.isfinite(normalise_targets(x, torch.tensor([0, 1]))).all()


def test_options_change_dim():
    base = VocalFeatureTargets()
    wide = VocalFeatureTargets(gne=True, log_mels=True, n_mels=24, loudness=False)
    assert wide.dim == base.dim + 1 + 24 - 1 and len(wide.names) == wide.dim
    targets, _ = wide(0.1 * torch.randn(1, 4000))
    assert targets.shape[-1] == wide.dim
    with pytest.raises(ValueError, match="4 periods"):
        VocalFeatureTargets(min_f0_Hz=50, window_size=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu(clips):
    module = VocalFeatureTargets()
    wavs = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    wav_lens = torch.tensor([len(c) for c in clips]) / wavs.shape[1]
    cpu, _ = module(wavs, wav_lens)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        gpu, _ = module.cuda()(wavs.cuda(), wav_lens.cuda())
    assert gpu.dtype == torch.float32
    close = torch.isclose(gpu.cpu(), cpu, atol=1e-2).float().mean()
    assert close > 0.99  # argmax ties (F0 lag) may flip a few frames


# --------------------------------------------------------------------------
# Disk backends
# --------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path, clips):
    """Three short clips written at several rates, as manifest entries."""
    entries = {}
    for index, (clip, rate) in enumerate(zip(clips[:3], (16000, 22050, 8000))):
        wav = clip[: 2 * SR]
        import torchaudio.functional as AF

        data = AF.resample(wav, SR, rate) if rate != SR else wav
        path = tmp_path / f"utt{index}.wav"
        audio_io.save(str(path), data.unsqueeze(0), rate)
        entries[f"utt{index}"] = {"wav": str(path)}
    return entries


def test_opensmile_alignment_and_crop(tmp_path, corpus):
    targets = OpenSmileTargets(tmp_path / "cache", num_workers=0)
    assert targets.dim == 25 and targets.on_the_fly is False
    assert targets.prepare(corpus) == set(corpus)
    path = corpus["utt0"]["wav"]
    full = targets._full("utt0", path)
    frames, rate, _ = disk.audio_info(path)
    assert full.shape == (conv_output_lengths(resampled_length(frames, rate)), 25)
    for start, num in ((0, 16000), (320 * 7, 4000), (640, 400), (0, 401)):
        crop = targets.crop("utt0", path, start, num)
        assert crop.shape == (conv_output_lengths(num), 25)
        assert torch.isfinite(crop).all()
        ref = normalise_targets(full[start // 320 :][None, : crop.shape[0]], torch.tensor([crop.shape[0]]))
        assert torch.allclose(crop, ref[0])
    with pytest.raises(ValueError, match="multiple of the 320"):
        targets.crop("utt0", path, 100, 4000)
    with pytest.raises(ValueError, match="beyond the end"):
        targets.crop("utt0", path, 320 * 90, 16000)


def test_opensmile_cache_reuse_invalidation_resume(tmp_path, corpus, monkeypatch):
    cache = tmp_path / "cache"
    targets = OpenSmileTargets(cache, num_workers=0)
    targets.prepare(corpus)
    assert targets.last_stats == {"reused": 0, "extracted": 3, "failed": 0}
    before = targets.crop("utt1", corpus["utt1"]["wav"], 0, 8000)

    # reuse: nothing extracted again (extraction would fail if called)
    def no_extraction(*args):
        raise AssertionError("extracted again")

    monkeypatch.setattr(opensmile, "_opensmile_features", no_extraction)
    again = OpenSmileTargets(cache, num_workers=0)
    assert again.prepare(corpus) == set(corpus)
    assert again.last_stats == {"reused": 3, "extracted": 0, "failed": 0}
    assert torch.equal(again.crop("utt1", corpus["utt1"]["wav"], 0, 8000), before)
    monkeypatch.undo()

    # a changed file is re-extracted (new content, new size and mtime)
    path = corpus["utt1"]["wav"]
    audio, rate = audio_io.load(path)
    audio_io.save(path, 0.5 * audio[:, : rate], rate)
    again.prepare(corpus)
    assert again.last_stats["extracted"] == 1
    assert not torch.equal(again.crop("utt1", path, 0, 8000), before)

    # a changed setting invalidates every entry
    other = OpenSmileTargets(cache, feature_set="GeMAPSv01b", num_workers=0)
    other.prepare(corpus)
    assert other.last_stats["extracted"] == 3 and other.dim == 18
    assert other.crop("utt0", corpus["utt0"]["wav"], 0, 8000).shape[1] == 18

    # an interrupted extraction resumes: only the missing entry is extracted
    os.remove(other.cache_path("utt2"))
    other.prepare(corpus)
    assert other.last_stats == {"reused": 2, "extracted": 1, "failed": 0}


def test_opensmile_atomic_write(tmp_path, corpus, monkeypatch):
    """A write interrupted half-way leaves no entry that is read later."""
    targets = OpenSmileTargets(tmp_path / "cache", num_workers=0)
    real_save = torch.save

    def interrupted_save(obj, path):
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        targets.prepare({"utt0": corpus["utt0"]})
    assert os.listdir(tmp_path / "cache") == []
    monkeypatch.setattr(torch, "save", real_save)
    # a stray temp file from a killed process is ignored
    (tmp_path / "cache" / ".utt0.pt.abc.tmp").write_bytes(b"junk")
    targets.prepare(corpus)
    assert targets.last_stats["extracted"] == 3
    assert torch.isfinite(targets.crop("utt0", corpus["utt0"]["wav"], 0, 8000)).all()


def test_opensmile_bad_files_skipped_and_parallel(tmp_path, corpus, caplog):
    (tmp_path / "broken.wav").write_bytes(b"RIFF not audio")
    entries = dict(corpus)
    entries["broken"] = {"wav": str(tmp_path / "broken.wav")}
    entries["missing"] = {"wav": str(tmp_path / "missing.wav")}
    targets = OpenSmileTargets(tmp_path / "cache", num_workers=2)
    with caplog.at_level("WARNING"):
        ready = targets.prepare(entries)
    assert ready == set(corpus)
    assert targets.last_stats["failed"] == 2
    assert "2 skipped" in caplog.text and "broken.wav" in caplog.text


def test_npy_targets(tmp_path, corpus):
    folder = tmp_path / "npy"
    folder.mkdir()
    path = corpus["utt0"]["wav"]  # 2 s at 16 kHz: 99 frames
    frames = conv_output_lengths(32000)
    values = np.random.default_rng(0).normal(size=(frames, 4)).astype(np.float32)
    np.save(folder / "utt0.npy", values)
    targets = NpyTargets(str(folder), dim=4)
    crop = targets.crop("utt0", path, 320 * 3, 8000)
    ref = normalise_targets(torch.from_numpy(values)[None, 3 : 3 + 24], torch.tensor([24]))[0]
    assert crop.shape == (24, 4) and torch.allclose(crop, ref, atol=1e-6)

    # within tolerance: padded (last frame repeated) or trimmed at the end
    np.save(folder / "utt0.npy", values[:-2])
    full = targets._full("utt0", path)
    assert full.shape == (frames, 4) and torch.equal(full[-3], full[-1])
    tail = targets.crop("utt0", path, 320 * (frames - 10), 3200 + 80)  # the last 10 frames
    ref = normalise_targets(full[None, -10:], torch.tensor([10]))[0]
    assert torch.allclose(tail, ref, atol=1e-6)
    with pytest.raises(ValueError, match="beyond the end"):
        targets.crop("utt0", path, 320 * (frames - 9), 3200 + 80)
    np.save(folder / "utt0.npy", np.concatenate([values, values[:2]]))
    assert torch.equal(targets._full("utt0", path), torch.from_numpy(values))

    # beyond tolerance, missing, wrong dim: errors naming the file
    np.save(folder / "utt0.npy", values[:-3])
    with pytest.raises(ValueError, match=r"utt0\.npy: 96 frames.*needs 99"):
        targets.crop("utt0", path, 0, 8000)
    with pytest.raises(ValueError, match=r"utt1\.npy: missing"):
        targets.crop("utt1", corpus["utt1"]["wav"], 0, 8000)
    np.save(folder / "utt0.npy", values[:, :3])
    with pytest.raises(ValueError, match=r"utt0\.npy: shape \(99, 3\)"):
        targets.crop("utt0", path, 0, 8000)

    np.save(folder / "utt0.npy", values)
    assert targets.prepare(corpus) == {"utt0"}
    assert targets.last_stats == {"ready": 1, "failed": 2}


def test_npy_targets_other_hop(tmp_path, corpus):
    """100 Hz features (e.g. PASE+ with a 160-sample hop) are interpolated
    onto the encoder grid: a linear ramp stays a ramp."""
    folder = tmp_path / "npy"
    folder.mkdir()
    path = corpus["utt0"]["wav"]
    ramp = np.arange(200, dtype=np.float32)[:, None].repeat(2, axis=1)
    np.save(folder / "utt0.npy", ramp)
    targets = NpyTargets(str(folder), dim=2, hop_samples=160)
    full = targets._full("utt0", path)
    assert full.shape == (conv_output_lengths(32000), 2)
    # encoder frame i is centred at 320 i + 200 = (k + 0.5) 160 with k = 2 i + 0.75
    expected = 2 * torch.arange(full.shape[0]).float() + 0.75
    assert torch.allclose(full[:, 0], expected, atol=1e-4)
    np.save(folder / "utt0.npy", ramp[:150])
    with pytest.raises(ValueError, match="needs 200"):
        targets._full("utt0", path)


# --------------------------------------------------------------------------
# Normalisation over the whole utterance, then the crop (every backend)
# --------------------------------------------------------------------------


def _by_utterance(full, first, count):
    """What the authors' code computes: normalise the utterance, then crop."""
    normalised = normalise_targets(full[None], torch.tensor([full.shape[0]]))[0]
    return normalised[first : first + count]


def test_normalise_mode_is_checked():
    with pytest.raises(ValueError, match="normalise must be one of"):
        NpyTargets("folder", dim=2, normalise="speaker")
    with pytest.raises(ValueError, match="needs a stats_folder"):
        VocalFeatureTargets(normalise="utterance")


def test_npy_and_opensmile_utterance_normalisation(tmp_path, corpus):
    folder = tmp_path / "npy"
    folder.mkdir()
    path = corpus["utt0"]["wav"]
    frames = conv_output_lengths(32000)
    values = np.random.default_rng(1).normal(3.0, 2.0, size=(frames, 4)).astype(np.float32)
    values[:20] += 5.0  # the crop's own statistics differ from the utterance's
    np.save(folder / "utt0.npy", values)
    by_utterance = NpyTargets(str(folder), dim=4, normalise="utterance")
    by_crop = NpyTargets(str(folder), dim=4)
    crop = by_utterance.crop("utt0", path, 320 * 3, 8000)
    expected = _by_utterance(torch.from_numpy(values), 3, 24)
    assert torch.allclose(crop, expected, atol=1e-5)
    assert not torch.allclose(crop, by_crop.crop("utt0", path, 320 * 3, 8000), atol=0.1)

    smile = OpenSmileTargets(tmp_path / "cache", num_workers=0, normalise="utterance")
    smile.prepare(corpus)
    full = smile._full("utt0", path)
    crop = smile.crop("utt0", path, 320 * 7, 16000)
    assert torch.allclose(crop, _by_utterance(full, 7, crop.shape[0]), atol=1e-5)


def test_vocal_utterance_normalisation(tmp_path, corpus, monkeypatch):
    """``prepare`` caches each utterance's statistics; a crop normalised with
    them equals the whole utterance's targets normalised then cropped (up to
    the analysis windows at the crop's edges)."""
    targets = VocalFeatureTargets(normalise="utterance", stats_folder=str(tmp_path / "stats"))
    assert targets.needs_utterance_stats
    assert targets.prepare(corpus) == set(corpus)
    path = corpus["utt0"]["wav"]
    wav = vocal_module.load_audio(path)
    stats = targets.utterance_stats("utt0", path)
    assert stats.shape == (2, targets.dim)

    raw = VocalFeatureTargets(normalise=False)
    full, _ = raw(wav[None])
    whole = _by_utterance(full[0], 0, full.shape[1])
    start, num = 320 * 10, 16000
    crop, _ = targets(wav[None, start : start + num], stats=stats[None])
    first, count = 10, crop.shape[1]
    inner = slice(2, count - 2)  # away from the crop's edges
    assert torch.allclose(crop[0, inner], whole[first : first + count][inner], atol=1e-4)

    with pytest.raises(ValueError, match="needs the utterance statistics"):
        targets(wav[None, :num])

    # cached: a second prepare computes nothing; a changed file is recomputed
    fresh = VocalFeatureTargets(normalise="utterance", stats_folder=str(tmp_path / "stats"))
    monkeypatch.setattr(VocalFeatureTargets, "_raw_stats", lambda *a: pytest.fail("recomputed"))
    assert fresh.prepare(corpus) == set(corpus)
    assert torch.equal(fresh.utterance_stats("utt0", path), stats)
    monkeypatch.undo()
    audio_io.save(path, 0.5 * wav.unsqueeze(0), SR)
    os.utime(path, ns=(1, 1))
    fresh.prepare(corpus)
    assert not torch.equal(fresh.utterance_stats("utt0", path), stats)
