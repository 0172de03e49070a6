"""The former name of :mod:`care.probing.extractors` (choosing an extractor)
and of the extractors' module (now :mod:`care.lobes.features`), kept as a
re-export: classifier folders exported before the move name
``care.probing.encoders.EGeMAPSFeatures`` and ``HFSpeechFeatures`` in their
``hyperparams.yaml``, and old imports keep working.
"""

from care.lobes.features import CAREFeatures, EGeMAPSFeatures, HFSpeechFeatures  # noqa: F401
from care.probing.extractors import (  # noqa: F401
    authors_layout,
    build_extractor,
    encoder_name,
    extractor_fingerprint,
    resolve_layers,
)
