"""Data processing for CARE: frame-level acoustic targets, utterance-level text
targets, transcripts and their caches."""
