"""The light-weight emotion probe of the paper's evaluation: a learned softmax
weighting over a frozen encoder's layers, masked mean pooling and a small MLP.

Mean pooling is linear, so weighting layers then pooling equals pooling each
layer then weighting. The probe therefore takes per-layer pooled vectors
``[batch, layers, dim]``, which can be extracted once and cached; use
:func:`masked_mean` to pool hidden states ``[layers, batch, frames, dim]``.

Example
-------
>>> import torch
>>> hidden = torch.randn(5, 2, 50, 32)  # [layers, batch, frames, dim]
>>> pooled = masked_mean(hidden, torch.tensor([1.0, 0.6]))
>>> pooled.shape
torch.Size([2, 5, 32])
>>> probe = EmotionProbe(num_layers=5, input_dim=32, num_classes=4, layers=[1, 2, 3])
>>> probe(pooled).shape
torch.Size([2, 4])
>>> probe.layer_weighting.weights().shape
torch.Size([3])

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def masked_mean(hidden, lengths=None):
    """Mean over valid frames.

    Arguments
    ---------
    hidden : torch.Tensor
        ``[batch, frames, dim]`` or ``[layers, batch, frames, dim]``.
    lengths : torch.Tensor, optional
        ``[batch]`` valid frames relative to ``frames`` (SpeechBrain's
        relative lengths). None: all frames are valid.

    Returns
    -------
    torch.Tensor
        ``[batch, dim]``, or ``[batch, layers, dim]`` for 4-D input.
    """
    frames = hidden.shape[-2]
    if lengths is None:
        pooled = hidden.mean(dim=-2)
    else:
        valid = torch.round(lengths.to(hidden.device).float() * frames).clamp(min=1)
        mask = torch.arange(frames, device=hidden.device)[None, :] < valid[:, None]
        mask = mask.to(hidden.dtype).unsqueeze(-1)  # [batch, frames, 1]
        pooled = (hidden * mask).sum(dim=-2) / valid.to(hidden.dtype)[:, None]
    if hidden.dim() == 4:
        pooled = pooled.transpose(0, 1)
    return pooled


class LayerWeighting(nn.Module):
    """Softmax-weighted sum over chosen layers of ``[batch, layers, dim]``.

    Arguments
    ---------
    num_layers : int
        Layers in the input.
    layers : list of int, optional
        Indices to weight (e.g. the semantic branch only); None: all.
    layer_norm : bool
        Normalise each layer's vector (no affine) before weighting, so that a
        layer with a large scale cannot dominate (as SUPERB's weighted sum).

    Example
    -------
    >>> weighting = LayerWeighting(4, layers=[0, 3])
    >>> weighting(torch.randn(2, 4, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, num_layers, layers=None, layer_norm=True):
        super().__init__()
        layers = list(range(num_layers)) if layers is None else [int(i) for i in layers]
        if not layers or any(not 0 <= i < num_layers for i in layers):
            raise ValueError(f"layers {layers} must be non-empty indices below {num_layers}")
        self.num_layers = num_layers
        self.layer_norm = layer_norm
        self.register_buffer("layers", torch.tensor(layers), persistent=False)
        self.logits = nn.Parameter(torch.zeros(len(layers)))

    def weights(self):
        """Softmax weights of the chosen layers, ``[len(layers)]``."""
        return self.logits.softmax(dim=0)

    def forward(self, x):
        """``[batch, layers, dim]`` -> ``[batch, dim]``."""
        if x.shape[1] != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layers, got shape {tuple(x.shape)}")
        x = x.index_select(1, self.layers)
        if self.layer_norm:
            x = F.layer_norm(x, x.shape[-1:])
        return (x * self.weights().to(x.dtype)[None, :, None]).sum(dim=1)


class EmotionProbe(nn.Module):
    """Layer weighting, then an MLP with dropout, to class logits.

    Arguments
    ---------
    num_layers : int
        Layers in the pooled input (1 for a single feature vector, e.g.
        eGeMAPS functionals).
    input_dim : int
        Size of each layer's vector.
    num_classes : int
        Output classes.
    hidden_dim : int
        Width of the hidden layers.
    num_hidden_layers : int
        Hidden layers of the MLP (0: a linear classifier).
    dropout : float
        Dropout before every linear layer.
    layers : list of int, optional
        Which layers the weighting sees; None: all.
    layer_norm : bool
        See :class:`LayerWeighting`.
    """

    def __init__(
        self,
        num_layers,
        input_dim,
        num_classes,
        hidden_dim=256,
        num_hidden_layers=1,
        dropout=0.2,
        layers=None,
        layer_norm=True,
    ):
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        # Feature standardisation (train-fold statistics; identity by default),
        # saved with the probe so that inference needs nothing else.
        self.register_buffer("feature_mean", torch.zeros(num_layers, input_dim))
        self.register_buffer("feature_std", torch.ones(num_layers, input_dim))
        self.layer_weighting = LayerWeighting(num_layers, layers, layer_norm)
        blocks, size = [], input_dim
        for _ in range(num_hidden_layers):
            blocks += [nn.Dropout(dropout), nn.Linear(size, hidden_dim), nn.ReLU()]
            size = hidden_dim
        blocks += [nn.Dropout(dropout), nn.Linear(size, num_classes)]
        self.mlp = nn.Sequential(*blocks)

    def set_normalization(self, features):
        """Standardise inputs with the mean and std of ``features``
        ``[utterances, layers, dim]`` (the training fold's)."""
        features = features.to(self.feature_mean)
        self.feature_mean.copy_(features.mean(dim=0))
        self.feature_std.copy_(features.std(dim=0).clamp(min=1e-5))

    def forward(self, pooled):
        """``[batch, layers, dim]`` pooled features -> ``[batch, classes]`` logits."""
        pooled = (pooled - self.feature_mean) / self.feature_std
        return self.mlp(self.layer_weighting(pooled))


class CAREFeatures(nn.Module):
    """Frozen CARE encoder -> per-layer pooled features ``[batch, layers, dim]``,
    the input of :class:`EmotionProbe` (and of the feature caches).

    Arguments
    ---------
    encoder : CAREEncoder
        Its parameters are frozen and it is kept in eval mode.

    Example
    -------
    >>> from care.lobes import CAREEncoder
    >>> encoder = CAREEncoder(d_model=32, num_heads=2, ffn_dim=64, num_shared_layers=1,
    ...     num_semantic_layers=1, num_acoustic_layers=1, text_dim=16, target_dim=8,
    ...     semantic_num_heads=2, semantic_ffn_dim=64, conv_channels=16, pos_conv_groups=4)
    >>> features = CAREFeatures(encoder)
    >>> features(torch.randn(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 4, 32])
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()
        self.num_layers = encoder.num_hidden_states
        self.dim = encoder.config["d_model"]
        self.layer_groups = encoder.layer_groups

    def train(self, mode=True):
        """The encoder stays in eval mode (no dropout) whatever the caller sets."""
        super().train(mode)
        self.encoder.eval()
        return self

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None):
        """``[batch, samples]`` -> ``[batch, layers, dim]``."""
        out = self.encoder(wavs, wav_lens, output_hidden_states=True)
        return masked_mean(out.hidden_states, out.lengths)

    def export_yaml(self):
        """YAML lines that rebuild this module (weights come from its state dict)."""
        from care.lobes.export import encoder_yaml

        return ["!new:care.lobes.CAREFeatures", "    encoder: " + encoder_yaml(self.encoder)[0]] + [
            "        " + line for line in encoder_yaml(self.encoder)[1:]
        ]
