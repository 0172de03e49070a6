"""Audio loading for every recipe: any sample rate and channel count in,
16 kHz mono float out, with errors that name the file.

Resampling uses torchaudio's polyphase sinc filter, whose kernel holds one
filter per output phase: ``new x (orig + taps)`` values for the rates
reduced by their greatest common divisor. A rate coprime with the output
(8001 Hz) would ask for a ``[16000, 8001]`` kernel, a header claiming
100003 Hz for gigabytes. :func:`resampling_ratio` therefore keeps the exact
ratio only while its kernel stays under ``MAX_KERNEL`` values (every common
rate: 8, 11.025, 22.05, 44.1, 48, 96, 192 kHz ...) and otherwise resamples
from the nearest rate whose kernel fits: the pitch and tempo then differ
from the recording's by at most 0.05 % (under a cent). Rates outside
``MIN_RATE``-``MAX_RATE`` are refused as not audio this collection can use.

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

import math
import os
from fractions import Fraction

import torch
import torchaudio
from speechbrain.dataio import audio_io

from care.recipe import InputError

SAMPLE_RATE = 16000
MIN_RATE, MAX_RATE = 1000, 384000  # Hz; a header outside is refused
MAX_KERNEL = 2**20  # values in one resampling kernel (8 MB in float64)
# torchaudio.functional.resample's defaults (sinc_interp_hann).
FILTER_WIDTH = 6
ROLLOFF = 0.99


class AudioError(InputError):
    """A file that cannot be used as audio; the message names the file and
    the problem."""


def audio_info(path):
    """Returns ``(num_frames, sample_rate, channels)`` from the file header
    (no decoding), raising :class:`AudioError` naming the file (also for a
    sample rate outside ``MIN_RATE``-``MAX_RATE``)."""
    _require_file(path)
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        info = audio_io.info(path)
    except Exception as error:  # soundfile raises its own types
        raise AudioError(f"{path}: not readable as audio ({error})") from error
    check_rate(path, info.sample_rate)
    return info.num_frames, info.sample_rate, info.num_channels


def check_rate(path, rate):
    """Raises :class:`AudioError` naming ``path`` unless its header's sample
    ``rate`` lies in ``MIN_RATE``-``MAX_RATE`` Hz."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"{path}: sample rate {rate} Hz in the header, outside the "
            f"{MIN_RATE}-{MAX_RATE} Hz this collection reads (a damaged header?)"
        )


def _kernel_size(orig, new):
    """Values in torchaudio's sinc kernel for the reduced rates ``orig -> new``."""
    width = math.ceil(FILTER_WIDTH * orig / (min(orig, new) * ROLLOFF))
    return new * (orig + 2 * width)


def resampling_ratio(rate, sample_rate=SAMPLE_RATE):
    """The reduced ``(orig, new)`` pair that resamples ``rate`` to
    ``sample_rate``: the exact ratio when its kernel has at most
    ``MAX_KERNEL`` values, else the closest ratio whose kernel does.

    Example
    -------
    >>> resampling_ratio(44100), resampling_ratio(8000), resampling_ratio(8001)
    ((441, 160), (1, 2), (1, 2))
    """
    exact = Fraction(rate, sample_rate)
    if _kernel_size(exact.numerator, exact.denominator) <= MAX_KERNEL:
        return exact.numerator, exact.denominator
    low, high, best = 1, exact.denominator, Fraction(round(exact) or 1)
    while low <= high:  # the largest denominator bound whose kernel fits
        bound = (low + high) // 2
        ratio = exact.limit_denominator(bound)
        if ratio and _kernel_size(ratio.numerator, ratio.denominator) <= MAX_KERNEL:
            best, low = ratio, bound + 1
        else:
            high = bound - 1
    return best.numerator, best.denominator


def resampled_length(num_frames, rate, sample_rate=SAMPLE_RATE):
    """Samples after resampling ``num_frames`` from ``rate`` to
    ``sample_rate`` (what :func:`load_audio` returns)."""
    orig, new = resampling_ratio(rate, sample_rate)
    return -(-num_frames * new // orig)


def resampler(rate, sample_rate=SAMPLE_RATE):
    """A ``torchaudio.transforms.Resample`` from ``rate`` to ``sample_rate``
    (its kernel built once, at most ``MAX_KERNEL`` values), or None when the
    rates are equal."""
    orig, new = resampling_ratio(rate, sample_rate)
    if orig == new:
        return None
    return torchaudio.transforms.Resample(
        orig, new, lowpass_filter_width=FILTER_WIDTH, rolloff=ROLLOFF
    )


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
    check_rate(path, rate)
    audio = audio.float().mean(dim=0)
    resample = resampler(rate, sample_rate)
    if resample is not None:
        audio = resample(audio)
    if not torch.isfinite(audio).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if start or num_frames is not None:
        stop = None if num_frames is None else start + num_frames
        audio = audio[start:stop]
    return audio
