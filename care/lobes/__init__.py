"""CARE model lobes: the dual-branch encoder and its building blocks.

Importing this package has no side effects; weight loading (which needs
``transformers``) is imported only when an encoder is built from checkpoints.
"""

from care.lobes.encoder import CAREEncoder, CAREOutput
from care.lobes.export import load_encoder, save_classifier, save_encoder
from care.lobes.probe import (
    AuthorsProbe,
    CAREFeatures,
    EmotionProbe,
    LayerWeighting,
    ProbeEnsemble,
    masked_mean,
)

__all__ = [
    "AuthorsProbe",
    "CAREEncoder",
    "CAREFeatures",
    "CAREOutput",
    "EmotionProbe",
    "LayerWeighting",
    "ProbeEnsemble",
    "load_encoder",
    "masked_mean",
    "save_classifier",
    "save_encoder",
]
