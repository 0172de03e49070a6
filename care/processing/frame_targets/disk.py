"""What the disk backends (:mod:`~care.processing.frame_targets.opensmile`,
:mod:`~care.processing.frame_targets.npy`) share: cropping cached
whole-utterance features on WavLM's frame grid (:class:`_DiskTargets`) and
the interpolation of other frame rates onto it.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import numpy as np
import torch

from care.lobes.frontend import WAVLM_GRID
from care.processing.audio import audio_info, resampled_length
from care.processing.frame_targets.common import normalise_targets, utterance_stats


def _to_encoder_grid(features, centres, num_frames, grid=WAVLM_GRID):
    """Linear interpolation of ``features`` ``[K, D]`` whose frame ``k`` is
    centred at sample ``centres[k]`` onto ``num_frames`` frames of ``grid``
    centred at ``grid.hop * i + grid.field / 2`` (clamped at the edges)."""
    if features.shape[0] == 0:
        return torch.zeros(num_frames, features.shape[1])
    targets = grid.hop * torch.arange(num_frames, dtype=torch.float64) + grid.field / 2
    position = np.interp(targets.numpy(), centres, np.arange(len(centres), dtype=np.float64))
    position = torch.from_numpy(position)
    low = position.floor().long().clamp(0, features.shape[0] - 1)
    high = (low + 1).clamp(max=features.shape[0] - 1)
    weight = (position - low.double()).unsqueeze(1).float()
    return features[low] * (1 - weight) + features[high] * weight


def _safe_name(utt_id):
    return str(utt_id).replace(os.sep, "__")


class _DiskTargets:
    """Shared ``crop`` logic of the disk backends: ``_full(utt_id, path)``
    returns the raw features of the whole utterance on the encoder grid;
    ``normalise`` is ``"crop"`` or ``"utterance"`` (see the module doc).
    Their frames are on WavLM's grid (the encoders of this collection)."""

    on_the_fly = False
    needs_utterance_stats = False  # the disk backends normalise in ``crop``
    grid = WAVLM_GRID
    hop, field = WAVLM_GRID.hop, WAVLM_GRID.field
    normalise = "crop"

    def crop(self, utt_id, path, start, num_samples):
        """Normalised targets of the audio segment ``[start, start +
        num_samples)`` (16 kHz samples, ``start`` a multiple of the grid's hop).

        Returns
        -------
        torch.Tensor
            ``[grid.num_frames(num_samples), dim]`` float32.
        """
        if start % self.hop:
            raise ValueError(
                f"{path}: crop start {start} is not a multiple of the {self.hop}-sample hop"
            )
        first = start // self.hop
        count = self.grid.num_frames(int(num_samples))
        stats = None
        if self.normalise == "utterance":
            full = self._full(utt_id, path)
            segment, available = full[first : first + count], full.shape[0]
            stats = utterance_stats(full).unsqueeze(0)
        else:
            segment, available = self._segment(utt_id, path, first, count)
        if segment.shape[0] < count:
            raise ValueError(
                f"{path}: crop [{start}, {start + num_samples}) needs frames up to "
                f"{first + count}, the audio has {available} "
                "(is the crop beyond the end of the audio?)"
            )
        return normalise_targets(segment.unsqueeze(0), torch.tensor([count]), stats)[0]

    def _segment(self, utt_id, path, first, count):
        """Raw frames ``[first, first + count)`` (fewer at the end of the
        audio) and the utterance's frame count."""
        full = self._full(utt_id, path)
        return full[first : first + count], full.shape[0]

    def __call__(self, utt_id, path, start=0, num_samples=None):
        """Targets of a whole utterance (or a crop), see :meth:`crop`."""
        if num_samples is None:
            frames, rate, _ = audio_info(path)
            num_samples = resampled_length(frames, rate) - start
        return self.crop(utt_id, path, start, num_samples)
