"""What an exported classifier needs to normalise its features as its
probing run did (``feature_normalization: speaker | corpus``): the mode, the
fewest windows a group needs for its own statistics, and the training
corpus's statistics of the raw pooled features (the fallback for a group too
small to have its own).

The module only holds them; ``care.inference`` z-scores with
``care.processing.normalization`` (each group by its own statistics, or by
these).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import torch
from torch import nn

# The modes of care.processing.normalization.NORMALIZATIONS that normalise.
MODES = ("speaker", "corpus")


class FeatureNormalizer(nn.Module):
    """The feature normalisation of an exported classifier: ``mode``,
    ``min_utterances`` and the training corpus's ``mean`` and ``std``
    (buffers ``[num_layers, dim]``, saved as ``normalizer.ckpt``).

    Arguments
    ---------
    mode : str
        ``speaker`` (each speaker z-scored by their own statistics) or
        ``corpus`` (each corpus by its own).
    min_utterances : int
        The fewest utterances (at inference: windows) a group needs for its
        own statistics.
    num_layers : int
        Layers of the pooled features.
    dim : int
        Size of each layer's vector.

    Example
    -------
    >>> normalizer = FeatureNormalizer.from_statistics("speaker", 5, torch.zeros(3, 8), torch.ones(3, 8))
    >>> normalizer.statistics()[1].shape, normalizer.mode
    (torch.Size([3, 8]), 'speaker')
    >>> normalizer.export_yaml()[:2]
    ['!new:care.lobes.FeatureNormalizer', '    mode: speaker']
    """

    def __init__(self, mode, min_utterances, num_layers, dim):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"normalisation mode {mode!r}: expected one of {', '.join(MODES)} "
                             "(a run without normalisation exports no normaliser)")
        if int(min_utterances) < 2:
            raise ValueError(f"min_utterances must be at least 2 (a spread needs two values), got {min_utterances}")
        self.mode = mode
        self.min_utterances = int(min_utterances)
        self.register_buffer("mean", torch.zeros(num_layers, dim))
        self.register_buffer("std", torch.ones(num_layers, dim))

    @classmethod
    def from_statistics(cls, mode, min_utterances, mean, std):
        """A normaliser holding ``mean`` and ``std`` (``[num_layers, dim]``):
        what ``care.inference.save_classifier(normalization=...)`` is given."""
        mean = torch.as_tensor(mean).detach().float().cpu()
        if mean.dim() != 2:
            raise ValueError(f"statistics must be [layers, dim], got shape {tuple(mean.shape)}")
        normalizer = cls(mode, min_utterances, *mean.shape)
        normalizer.set_statistics(mean, torch.as_tensor(std).detach().float().cpu())
        return normalizer

    def export_yaml(self):
        """YAML lines that rebuild this normaliser in a classifier folder (its
        statistics are in ``normalizer.ckpt``)."""
        num_layers, dim = self.mean.shape
        return ["!new:care.lobes.FeatureNormalizer", f"    mode: {self.mode}",
                f"    min_utterances: {self.min_utterances}", f"    num_layers: {num_layers}", f"    dim: {dim}"]

    def set_statistics(self, mean, std):
        """Stores the corpus statistics ``[num_layers, dim]`` (raises
        ``ValueError`` for another shape, or a deviation that is not positive
        and finite)."""
        mean, std = torch.as_tensor(mean), torch.as_tensor(std)
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            raise ValueError(f"statistics of shape {tuple(mean.shape)} and {tuple(std.shape)}; "
                             f"expected {tuple(self.mean.shape)}")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError("statistics must be finite, with a positive standard deviation")
        self.mean.copy_(mean)
        self.std.copy_(std)

    def statistics(self):
        """The stored ``(mean, std)``."""
        return self.mean, self.std
