"""CARE model lobes: the dual-branch encoder and its building blocks, the
frozen feature extractors and the emotion probes.

Importing this package has no side effects; weight loading (which needs
``transformers``) is imported only when an encoder is built from checkpoints,
and openSMILE only when an :class:`EGeMAPSFeatures` is built.
"""

from care.lobes.encoder import CAREEncoder, CAREOutput
from care.lobes.export import load_encoder, save_encoder
from care.lobes.features import CAREFeatures, EGeMAPSFeatures, HFSpeechFeatures
from care.lobes.frontend import POOLINGS, WAVLM_GRID, FrameGrid, masked_mean, masked_pool
from care.lobes.normalizer import FeatureNormalizer
from care.lobes.probe import AuthorsProbe, EmotionProbe, LayerConcatenation, LayerWeighting, ProbeEnsemble

__all__ = [
    "AuthorsProbe",
    "CAREEncoder",
    "CAREFeatures",
    "CAREOutput",
    "EGeMAPSFeatures",
    "EmotionProbe",
    "FeatureNormalizer",
    "FrameGrid",
    "HFSpeechFeatures",
    "LayerConcatenation",
    "LayerWeighting",
    "ProbeEnsemble",
    "load_encoder",
    "masked_mean",
    "masked_pool",
    "POOLINGS",
    "save_encoder",
    "WAVLM_GRID",
]

