"""Audio loading for every recipe: any sample rate and channel count in,
16 kHz mono float out, with errors that name the file.

Example
-------
>>> import os, tempfile, torch
>>> from speechbrain.dataio import audio_io
>>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
>>> audio_io.save(path, torch.zeros(2, 44100), 44100)
>>> load_audio(path).shape
torch.Size([16000])

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import torch
import torchaudio
from speechbrain.dataio import audio_io

from care.recipe import InputError

SAMPLE_RATE = 16000


class AudioError(InputError):
    """A file that cannot be used as audio; the message names the file and
    the problem."""


def audio_info(path):
    """Returns ``(num_frames, sample_rate, channels)`` from the file header
    (no decoding), raising :class:`AudioError` naming the file."""
    _require_file(path)
    try:
        info = audio_io.info(path)
    except Exception as error:  # soundfile raises its own types
        raise AudioError(f"{path}: not readable as audio ({error})") from error
    return info.num_frames, info.sample_rate, info.num_channels


def _require_file(path):
    """Raises :class:`AudioError` unless ``path`` is a file: "is a folder"
    for a folder, "no such file" for a missing path."""
    if os.path.isdir(path):
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not os.path.isfile(path):
        raise AudioError(f"{path}: no such file")


def load_audio(path, sample_rate=SAMPLE_RATE, start=0, num_frames=None):
    """Reads ``path``, averages channels and resamples to ``sample_rate``.

    Arguments
    ---------
    path : str
        Any format soundfile reads (WAV, FLAC, OGG, ...).
    sample_rate : int
        Output rate (Hz).
    start, num_frames : int
        Optional segment, in samples at the *output* rate.

    Returns
    -------
    torch.Tensor
        ``[samples]`` float32.
    """
    _require_file(path)
    try:
        audio, rate = audio_io.load(path)  # [channels, samples]
    except Exception as error:
        raise AudioError(f"{path}: not readable as audio ({error})") from error
    if audio.numel() == 0:
        raise AudioError(f"{path}: contains no samples")
    audio = audio.float().mean(dim=0)
    if rate != sample_rate:
        audio = torchaudio.functional.resample(audio, rate, sample_rate)
    if not torch.isfinite(audio).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if start or num_frames is not None:
        stop = None if num_frames is None else start + num_frames
        audio = audio[start:stop]
    return audio
