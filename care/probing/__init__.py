"""Emotion probing: frozen encoders behind one ``encoder_source`` option,
cached per-layer features, in-memory probe training, metrics and the
experiment runner every dataset recipe calls; and fine-tuning the encoder
with its head on the same recipes (``hparams/finetune.yaml``).

Importing this package has no side effects and imports no model code.
"""

from care.probing.cache import cached_features
from care.probing.extractors import build_extractor, encoder_name, resolve_layers
from care.probing.finetune import EmotionFineTuner
from care.probing.finetune_loop import run_finetuning
from care.probing.heads import default_pooling, default_probe_head, pick_head, probe_heads
from care.probing.metrics import classification_metrics, summarize
from care.probing.run import run_probing, run_recipe

__all__ = [
    "cached_features",
    "probe_heads",
    "build_extractor",
    "classification_metrics",
    "default_pooling",
    "default_probe_head",
    "EmotionFineTuner",
    "pick_head",
    "encoder_name",
    "resolve_layers",
    "run_finetuning",
    "run_probing",
    "run_recipe",
    "summarize",
]
