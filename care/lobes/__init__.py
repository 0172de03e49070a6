"""CARE model lobes: the dual-branch encoder and its building blocks.

Importing this package has no side effects; weight loading (which needs
``transformers``) is imported only when an encoder is built from checkpoints.
"""

from care.lobes.encoder import CAREEncoder, CAREOutput

__all__ = ["CAREEncoder", "CAREOutput"]
