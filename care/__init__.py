"""CARE (Content and Acoustic Representations of Emotions) for SpeechBrain."""

__version__ = "0.1.0"
