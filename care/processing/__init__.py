"""Data processing for CARE: frame-level acoustic targets, utterance-level text
targets, transcripts and their caches.

The ASR step is ``care.processing.transcribe.transcribe`` (not re-exported
here: the function would shadow its module).

Importing this package loads no model; ``opensmile``, ``transformers`` and
``sentence_transformers`` are imported when a backend that needs them is built.
"""

from care.processing.frame_targets import (
    NpyTargets,
    OpenSmileTargets,
    VocalFeatureTargets,
    normalise_targets,
)
from care.processing.text_targets import TextTargets, TextTeacher

__all__ = [
    "NpyTargets",
    "OpenSmileTargets",
    "TextTargets",
    "TextTeacher",
    "VocalFeatureTargets",
    "normalise_targets",
]
