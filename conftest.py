"""Test-wide settings: everything runs offline (a test that reached for the model
hub would fail at once instead of downloading)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
