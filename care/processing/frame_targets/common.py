"""What the frame-target backends share: the normalisation of targets
(``normalise``: ``"crop"`` or ``"utterance"``, see :mod:`care.processing.frame_targets`)
and the key of their disk caches.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import torch

from care.io import fingerprint
from care.lobes.frontend import length_mask

CACHE_VERSION = 1  # bump when the cached representation changes


NORMALISE = ("crop", "utterance")


def _check_normalise(normalise, allow_raw=False):
    """The normalisation mode (``True`` is ``"crop"``; ``False``, raw, where allowed)."""
    if normalise is True:
        return "crop"
    if normalise is False and allow_raw:
        return None
    if normalise not in NORMALISE:
        raise ValueError(f"normalise must be one of {NORMALISE}, got {normalise!r}")
    return normalise


def utterance_stats(features):
    """Per-feature mean and population std of ``features`` ``[frames, dim]``,
    stacked ``[2, dim]`` (zeros for an empty utterance).

    Example
    -------
    >>> utterance_stats(torch.tensor([[1.0], [3.0]]))
    tensor([[2.],
            [1.]])
    """
    if features.shape[0] == 0:
        return features.new_zeros(2, features.shape[1])
    features = features.double()
    mean = features.mean(dim=0)
    std = (features - mean).pow(2).mean(dim=0).sqrt()
    return torch.stack([mean, std]).float()


def normalise_targets(targets, frame_lengths, stats=None):
    """``(x - mean) / (std + 1)`` per feature (population std) over the valid
    frames, as the authors' code normalises, padding frames set to zero.

    Arguments
    ---------
    targets : torch.Tensor
        ``[batch, time, dim]`` raw features.
    frame_lengths : torch.Tensor
        ``[batch]`` valid frames of each utterance (may be zero).
    stats : torch.Tensor, optional
        ``[batch, 2, dim]`` mean and std to use (e.g. of the whole utterance
        a crop comes from, :func:`utterance_stats`); default: those of the
        valid frames of ``targets``.

    Returns
    -------
    torch.Tensor
        ``[batch, time, dim]`` normalised, finite where the input is finite.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> normalise_targets(x, torch.tensor([2]))
    tensor([[[-0.5000],
             [ 0.5000],
             [ 0.0000]]])
    >>> normalise_targets(x, torch.tensor([2]), stats=torch.tensor([[[3.0], [1.0]]]))
    tensor([[[-1.],
             [ 0.],
             [ 0.]]])
    """
    mask = length_mask(frame_lengths.to(targets.device), targets.shape[1]).unsqueeze(-1)
    if stats is not None:
        stats = stats.to(targets.device, targets.dtype)
        centred = (targets - stats[:, :1]).masked_fill(~mask, 0.0)
        return centred / (stats[:, 1:] + 1.0)
    count = frame_lengths.to(targets.device).clamp(min=1).view(-1, 1, 1).to(targets.dtype)
    x = targets.masked_fill(~mask, 0.0)
    mean = x.sum(dim=1, keepdim=True) / count
    centred = (x - mean).masked_fill(~mask, 0.0)
    std = (centred.pow(2).sum(dim=1, keepdim=True) / count).sqrt()
    return centred / (std + 1.0)


def _file_key(path, settings):
    """Cache key of a file: its identity (absolute path, size, mtime) and the
    extractor settings (:func:`care.io.fingerprint`)."""
    return fingerprint({os.path.abspath(path): path}, extra=settings)
