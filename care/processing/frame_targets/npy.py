"""Precomputed frame targets from a folder of ``<utt_id>.npy`` files
(:class:`NpyTargets`), e.g. the PASE+ features of the authors' code.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import numpy as np
import torch
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.processing.audio import AudioError, audio_info, resampled_length
from care.processing.frame_targets.common import _check_normalise
from care.processing.frame_targets.disk import (
    _DiskTargets,
    _safe_name,
    _to_encoder_grid,
)

logger = get_logger(__name__)


class NpyTargets(_DiskTargets):
    """Precomputed features from a folder of ``<utt_id>.npy`` files, each
    ``T x D`` (e.g. PASE+, the targets of the authors' code: see
    ``recipes/Pretrain/README.md`` for their extraction and the 100 Hz to
    50 Hz step).

    With ``hop_samples`` None (the default) or the grid's hop, frame ``k``
    must be the encoder's frame ``k`` and ``T`` must equal
    ``grid.num_frames(samples)``. With another hop (e.g. 160 for a 100 Hz extractor) frame ``k`` is taken as
    centred at ``(k + 0.5) * hop_samples`` and interpolated onto the encoder
    grid; ``T`` must be ``round(samples / hop_samples)``.

    Length tolerance: extractors differ in how they pad the last frame, so a
    file up to ``tolerance`` frames (default 2) longer or shorter than
    expected is trimmed or padded (last frame repeated) at the end; beyond
    that, or when the file is missing or not ``T x dim``, :class:`ValueError`
    names the file.

    Arguments
    ---------
    folder : str
        The folder of ``.npy`` files.
    dim : int
        Feature size ``D`` (checked).
    hop_samples : int, optional
        Frame hop of the files in 16 kHz samples (None: the encoder's grid).
    tolerance : int
        Frames of length mismatch that are padded or trimmed.
    normalise : str
        ``"crop"`` (only the crop's rows are read) or ``"utterance"`` (the
        whole file is read for its statistics).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio import audio_io
    >>> folder = tempfile.mkdtemp()
    >>> audio_io.save(folder + "/a.wav", torch.randn(1, 16000), 16000)
    >>> np.save(folder + "/a.npy", np.ones((49, 3), dtype=np.float32))
    >>> targets = NpyTargets(folder, dim=3)
    >>> targets.crop("a", folder + "/a.wav", start=0, num_samples=8000).shape
    torch.Size([24, 3])
    """

    def __init__(self, folder, dim, hop_samples=None, tolerance=2, normalise="crop"):
        self.normalise = _check_normalise(normalise)
        self.folder = folder
        self.dim = dim
        self.hop_samples = self.hop if hop_samples is None else hop_samples
        self.tolerance = tolerance
        self.last_stats = {}

    def npy_path(self, utt_id):
        return os.path.join(self.folder, _safe_name(utt_id) + ".npy")

    def _read(self, utt_id, path, mmap=True):
        """The file's array ``[T, D]`` checked against the audio, and the
        expected number of encoder frames."""
        npy = self.npy_path(utt_id)
        if not os.path.isfile(npy):
            raise ValueError(f"{npy}: missing precomputed targets for {utt_id} ({path})")
        try:
            array = np.load(npy, mmap_mode="r" if mmap else None)
        except (ValueError, OSError) as error:
            raise ValueError(f"{npy}: not a readable .npy file ({error})") from error
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"{npy}: shape {array.shape}, expected (frames, {self.dim})")
        frames, rate, _ = audio_info(path)
        samples = resampled_length(frames, rate)
        if self.hop_samples == self.hop:
            expected = self.grid.num_frames(samples)
        else:
            expected = int(round(samples / self.hop_samples))
        if abs(array.shape[0] - expected) > self.tolerance:
            raise ValueError(
                f"{npy}: {array.shape[0]} frames, but {path} ({samples} samples at 16 kHz) "
                f"needs {expected} (hop {self.hop_samples}, tolerance {self.tolerance})"
            )
        return array, samples, expected

    def prepare(self, entries, num_workers=None):
        """Checks every file once (present, ``T x dim``, length within
        tolerance); bad ones are counted and named in one log line.
        ``num_workers`` is accepted for interface parity (reading headers is
        fast).

        Returns
        -------
        set
            The ids whose targets are usable.
        """
        ready, failed = set(), {}
        for utt_id, entry in tqdm(entries.items(), desc="checking .npy targets", dynamic_ncols=True):
            try:
                self._read(utt_id, entry["wav"])
                ready.add(utt_id)
            except (ValueError, AudioError) as error:
                failed[utt_id] = str(error)
        self.last_stats = {"ready": len(ready), "failed": len(failed)}
        message = f".npy targets in {self.folder}: {len(ready)} usable, {len(failed)} skipped"
        if failed:
            logger.warning(message + " (e.g. " + "; ".join(list(failed.values())[:3]) + ")")
        else:
            logger.info(message)
        return ready

    def _segment(self, utt_id, path, first, count):
        if self.hop_samples != self.hop:
            return super()._segment(utt_id, path, first, count)
        # Read only the crop's rows from the memory-mapped file.
        array, samples, _ = self._read(utt_id, path)
        num_frames = self.grid.num_frames(samples)
        stop = min(first + count, num_frames)
        rows = np.array(array[first : min(stop, array.shape[0])], dtype=np.float32)
        self._check_finite(rows, utt_id)
        missing = stop - first - rows.shape[0]  # within tolerance: repeat the last frame
        if missing > 0:
            last = np.array(array[-1:], dtype=np.float32)
            if last.shape[0] == 0:  # an empty file within tolerance of a tiny clip
                last = np.zeros((1, self.dim), dtype=np.float32)
            rows = np.concatenate([rows, np.repeat(last, missing, axis=0)])
        return torch.from_numpy(rows), num_frames

    def _check_finite(self, values, utt_id):
        if not np.isfinite(values).all():
            raise ValueError(f"{self.npy_path(utt_id)}: contains NaN or infinite values")

    def _full(self, utt_id, path):
        array, samples, expected = self._read(utt_id, path)
        values = np.array(array, dtype=np.float32)
        self._check_finite(values, utt_id)
        features = torch.from_numpy(values)
        num_frames = self.grid.num_frames(samples)
        if features.shape[0] == 0:
            return torch.zeros(num_frames, self.dim)
        if self.hop_samples == self.hop:
            if features.shape[0] > num_frames:
                return features[:num_frames]
            pad = num_frames - features.shape[0]
            return torch.cat([features, features[-1:].expand(pad, -1)]) if pad else features
        centres = (np.arange(features.shape[0]) + 0.5) * self.hop_samples
        return _to_encoder_grid(features, centres, num_frames, self.grid)
