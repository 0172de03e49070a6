"""Segment-by-segment reading of long recordings: any sample rate and channel
count in, 16 kHz mono out, holding only the requested segment (plus a few
milliseconds of resampling context) in memory.

:func:`care.processing.audio.load_audio` decodes a whole file; an hour of
44.1 kHz stereo is 1.3 GB as float32. :class:`AudioStream` instead seeks to
each segment and resamples it on its own, with one resampler per file (its
kernel bounded, see :func:`care.processing.audio.resampling_ratio`). Segments
are cut on the sample grid shared by both rates and read with enough context
on each side for the resampling filter, so concatenated segments equal the
whole file resampled at once (up to float rounding).

Example
-------
>>> import os, tempfile, torch
>>> from speechbrain.dataio import audio_io
>>> from care.processing.audio import load_audio
>>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
>>> audio_io.save(path, 0.1 * torch.randn(2, 3 * 44100), 44100)
>>> with AudioStream(path) as stream:
...     stream.num_samples, stream.read(16000, 32000).shape
(48000, torch.Size([16000]))
>>> whole = load_audio(path)
>>> with AudioStream(path) as stream:
...     torch.allclose(stream.read(16000, 32000), whole[16000:32000], atol=1e-5)
True

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import math
import os

import soundfile
import torch

from care.processing.audio import (
    FILTER_WIDTH,
    ROLLOFF,
    SAMPLE_RATE,
    AudioError,
    check_rate,
    resampler,
    resampling_ratio,
)


class AudioStream:
    """An open audio file read in segments at ``sample_rate``, mono.

    Arguments
    ---------
    path : str
        Any format soundfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3, ...).
    sample_rate : int
        Output rate (Hz).

    Attributes
    ----------
    num_samples : int
        Length at the output rate (what ``load_audio`` would return).
    file_rate, channels, file_frames : int
        From the file header.

    Raises
    ------
    AudioError
        Missing, unreadable or empty file, or a sample rate outside
        ``MIN_RATE``-``MAX_RATE`` (the message names the file).
    """

    def __init__(self, path, sample_rate=SAMPLE_RATE):
        self.path = os.fspath(path)
        self.sample_rate = sample_rate
        if not os.path.isfile(self.path):
            raise AudioError(f"{self.path}: no such file")
        if os.path.getsize(self.path) == 0:
            raise AudioError(f"{self.path}: empty file (0 bytes)")
        try:
            self._file = soundfile.SoundFile(self.path)
        except Exception as error:  # soundfile raises its own types
            raise AudioError(f"{self.path}: not readable as audio ({error})") from error
        self.file_rate = self._file.samplerate
        self.channels = self._file.channels
        self.file_frames = self._file.frames
        if self.file_frames <= 0:
            self.close()
            raise AudioError(f"{self.path}: contains no samples")
        try:
            check_rate(self.path, self.file_rate)
        except AudioError:
            self.close()
            raise
        # input and output samples per grid block
        self._block_in, self._block_out = resampling_ratio(self.file_rate, sample_rate)
        self._resample = resampler(self.file_rate, sample_rate)
        self.num_samples = -(-self.file_frames * self._block_out // self._block_in)
        # Context each side, in whole grid blocks, covering the sinc filter's
        # half width (in input samples) as torchaudio computes it.
        base = min(self._block_in, self._block_out) * ROLLOFF
        half_width = math.ceil(FILTER_WIDTH * self._block_in / base)
        self._context_blocks = -(-(half_width + 1) // self._block_in) + 1

    @property
    def duration(self):
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def read(self, start, stop):
        """Samples ``[start, stop)`` at the output rate, mono float32.

        Arguments
        ---------
        start, stop : int
            Segment bounds in output samples; ``stop`` is clipped to
            ``num_samples``.

        Returns
        -------
        torch.Tensor
            ``[stop - start]`` (shorter only if the file's data ends before
            its header says, which raises when nothing at all is left).
        """
        stop = min(stop, self.num_samples)
        if not 0 <= start < stop:
            raise ValueError(f"{self.path}: empty or invalid segment [{start}, {stop})")
        if self._resample is None:
            audio = self._read_frames(start, stop)
            offset = start
        else:
            first = max(0, start // self._block_out - self._context_blocks)
            last = -(-stop // self._block_out) + self._context_blocks
            frames = self._read_frames(first * self._block_in, last * self._block_in)
            audio = self._resample(frames)
            offset = first * self._block_out
        audio = audio[start - offset : stop - offset]
        if audio.numel() == 0:
            raise AudioError(
                f"{self.path}: truncated (the header announces {self.file_frames} frames, "
                f"the data ends before {start / self.sample_rate:.2f} s)"
            )
        if not torch.isfinite(audio).all():
            raise AudioError(f"{self.path}: contains NaN or infinite samples")
        return audio

    def _read_frames(self, first, last):
        """Input frames ``[first, last)`` (clipped to the file), channels averaged."""
        last = min(last, self.file_frames)
        try:
            self._file.seek(first)
            data = self._file.read(last - first, dtype="float32", always_2d=True)
        except Exception as error:
            message = f"{self.path}: decoding failed near frame {first} ({error})"
            raise AudioError(message) from error
        return torch.from_numpy(data).mean(dim=1)

    def close(self):
        """Closes the file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
