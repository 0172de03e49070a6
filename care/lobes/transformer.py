"""Transformer blocks of the CARE encoder.

Both families of layers CARE stacks are post-layer-norm transformer layers with
the same shape: WavLM's speech layers (self-attention with a gated relative
position bias) and the BERT/RoBERTa text layers of the semantic branch (plain
self-attention). One ``TransformerLayer`` serves both; attention runs through
``torch.nn.functional.scaled_dot_product_attention`` with the relative
position bias as an additive mask, so it takes the fused kernels on GPU.

``SemanticLayer`` wraps a layer in the strided down-sampling and up-sampling
convolutions of the authors' code, with padding handled so that an utterance
gives the same output alone and inside a padded batch.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from care.lobes.frontend import length_mask


class RelativePositionBias(nn.Module):
    """WavLM's bucketed relative position bias, one learned scalar per head
    and bucket, shared by all speech layers (each gates it differently).

    Arguments
    ---------
    num_heads : int
        Attention heads.
    num_buckets : int
        Buckets for both directions (WavLM: 320).
    max_distance : int
        Distance in frames at which the log-spaced buckets saturate (WavLM: 800).

    Example
    -------
    >>> bias = RelativePositionBias(num_heads=4)
    >>> bias(50).shape
    torch.Size([4, 50, 50])
    """

    def __init__(self, num_heads, num_buckets=320, max_distance=800):
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.rel_attn_embed = nn.Embedding(num_buckets, num_heads)

    def buckets(self, length, device=None):
        """Bucket index ``[length, length]`` of each (query, key) pair."""
        positions = torch.arange(length, device=device)
        relative = positions.unsqueeze(0) - positions.unsqueeze(1)
        half = self.num_buckets // 2
        buckets = (relative > 0).long() * half
        distance = relative.abs()
        max_exact = half // 2
        is_small = distance < max_exact
        # Clamped at 1 only to keep log() finite where is_small picks the exact bucket.
        scaled = torch.log(distance.clamp(min=1).float() / max_exact)
        scaled = scaled / math.log(self.max_distance / max_exact) * (half - max_exact)
        large = (max_exact + scaled).long().clamp(max=half - 1)
        return buckets + torch.where(is_small, distance, large)

    def forward(self, length):
        """Bias ``[heads, length, length]`` for a sequence of ``length`` frames."""
        buckets = self.buckets(length, self.rel_attn_embed.weight.device)
        return self.rel_attn_embed(buckets).permute(2, 0, 1)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with fused query/key/value projection.

    Arguments
    ---------
    d_model : int
        Model width.
    num_heads : int
        Attention heads.
    dropout : float
        Dropout on the attention weights.

    Example
    -------
    >>> attention = MultiHeadSelfAttention(64, 4)
    >>> x = torch.randn(2, 10, 64)
    >>> attention(x, key_mask=torch.ones(2, 10, dtype=torch.bool)).shape
    torch.Size([2, 10, 64])
    """

    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(
                f"d_model {d_model} is not divisible by num_heads {num_heads}"
            )
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def attention_bias(self, x, position_bias, dtype):
        """Additive bias ``[batch or 1, heads, time, time]`` in ``dtype`` (None: no bias)."""
        if position_bias is None:
            return None
        return position_bias.unsqueeze(0).to(dtype)

    def forward(self, x, key_mask=None, position_bias=None):
        """Attends over ``x`` ``[batch, time, d_model]``.

        Arguments
        ---------
        x : torch.Tensor
            Input ``[batch, time, d_model]``.
        key_mask : torch.Tensor, optional
            ``[batch, time]``, True on the frames that may be attended to
            (all when None).
        position_bias : torch.Tensor, optional
            Additive bias ``[heads, time, time]``.

        Returns
        -------
        torch.Tensor
            ``[batch, time, d_model]``.
        """
        batch, time, d_model = x.shape
        q, k, v = (
            self.qkv(x)
            .view(batch, time, 3, self.num_heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
            .unbind(0)
        )
        # Built in the attention's dtype (bf16 under autocast): the [batch,
        # heads, time, time] bias is the largest tensor of a speech layer.
        bias = self.attention_bias(x, position_bias, q.dtype)
        if bias is not None:
            if key_mask is not None:
                bias = bias.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        elif key_mask is not None:
            bias = key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, time, d_model))


class GatedRelativeSelfAttention(MultiHeadSelfAttention):
    """WavLM's self-attention: the shared relative position bias is scaled,
    per head and query frame, by a gate computed from the layer input.

    Example
    -------
    >>> attention = GatedRelativeSelfAttention(64, 4)
    >>> bias = RelativePositionBias(num_heads=4)(10)
    >>> attention(torch.randn(2, 10, 64), position_bias=bias).shape
    torch.Size([2, 10, 64])
    """

    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__(d_model, num_heads, dropout)
        self.gate_proj = nn.Linear(self.head_dim, 8)
        self.gate_const = nn.Parameter(torch.ones(1, num_heads, 1, 1))

    def attention_bias(self, x, position_bias, dtype):
        """Gated bias ``[batch, heads, time, time]`` in ``dtype``."""
        if position_bias is None:
            raise ValueError("GatedRelativeSelfAttention needs a position_bias")
        batch, time, _ = x.shape
        heads = x.view(batch, time, self.num_heads, self.head_dim).transpose(1, 2)
        gates = self.gate_proj(heads).view(batch, self.num_heads, time, 2, 4).sum(-1)
        gate_a, gate_b = torch.sigmoid(gates).unbind(-1)
        gate = gate_a * (gate_b * self.gate_const.squeeze(-1) - 1.0) + 2.0
        return gate.to(dtype).unsqueeze(-1) * position_bias.to(dtype).unsqueeze(0)


class FeedForward(nn.Module):
    """Position-wise feed-forward block: linear, GELU, dropout, linear, dropout.

    Example
    -------
    >>> FeedForward(64, 128)(torch.randn(2, 10, 64)).shape
    torch.Size([2, 10, 64])
    """

    def __init__(self, d_model, ffn_dim, activation_dropout=0.0, dropout=0.1):
        super().__init__()
        self.in_proj = nn.Linear(d_model, ffn_dim)
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.out_proj = nn.Linear(ffn_dim, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Maps ``[..., d_model]`` to ``[..., d_model]``."""
        x = self.activation_dropout(F.gelu(self.in_proj(x)))
        return self.dropout(self.out_proj(x))


class TransformerLayer(nn.Module):
    """Post-layer-norm transformer layer, the layout shared by WavLM-base and
    BERT/RoBERTa: ``x = LN(x + attention(x)); x = LN(x + ffn(x))``.

    Arguments
    ---------
    d_model : int
        Model width.
    num_heads : int
        Attention heads.
    ffn_dim : int
        Inner width of the feed-forward block.
    layer_norm_eps : float
        Layer-norm epsilon (WavLM and RoBERTa: 1e-5; BERT and MiniLM: 1e-12).
    dropout : float
        Dropout after attention and feed-forward.
    attention_dropout : float
        Dropout on the attention weights.
    activation_dropout : float
        Dropout inside the feed-forward block.
    gated_relative_position : bool
        Use WavLM's gated relative position bias (speech layers) instead of
        plain attention (text layers).

    Example
    -------
    >>> layer = TransformerLayer(64, 4, 128, gated_relative_position=True)
    >>> bias = RelativePositionBias(num_heads=4)(10)
    >>> layer(torch.randn(2, 10, 64), position_bias=bias).shape
    torch.Size([2, 10, 64])
    """

    def __init__(
        self,
        d_model,
        num_heads,
        ffn_dim,
        layer_norm_eps=1e-5,
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        gated_relative_position=False,
    ):
        super().__init__()
        attention = (
            GatedRelativeSelfAttention if gated_relative_position else MultiHeadSelfAttention
        )
        self.attention = attention(d_model, num_heads, attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.attention_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.feed_forward = FeedForward(d_model, ffn_dim, activation_dropout, dropout)
        self.ffn_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)

    def forward(self, x, key_mask=None, position_bias=None):
        """Transforms ``x`` ``[batch, time, d_model]``; ``key_mask`` ``[batch,
        time]`` is True on valid frames; ``position_bias`` ``[heads, time,
        time]`` is needed by the gated (speech) layers."""
        x = self.attention_norm(x + self.dropout(self.attention(x, key_mask, position_bias)))
        return self.ffn_norm(x + self.feed_forward(x))


class SemanticLayer(nn.Module):
    """A semantic-branch layer: optionally, a strided convolution shortens the
    sequence before the (text) transformer layer and a transposed convolution
    brings it back to the input frame rate, as in the authors' code.

    With the convolutions, the output at frame rate holds zeros past the
    frames the transposed convolution produces for each utterance, exactly as
    the same utterance would give alone.

    Arguments
    ---------
    layer : TransformerLayer
        The transformer layer (initialised from a text encoder, or random).
    d_model : int
        Model width.
    conv : bool
        Whether to wrap the layer in down-/up-sampling convolutions.
    kernel_size : int
        Kernel size of both convolutions (the authors' code: 5).
    stride : int
        Their stride (the authors' code: 3, from 50 Hz to about 17 Hz).
    output_padding : int
        Extra frames of the transposed convolution (the authors' code: 1).

    Example
    -------
    >>> semantic = SemanticLayer(TransformerLayer(64, 4, 128), 64)
    >>> x = torch.randn(2, 49, 64)
    >>> y = semantic(x, frame_lengths=torch.tensor([49, 30]))
    >>> y.shape, bool(y[1, 30:].abs().sum() == 0)
    (torch.Size([2, 49, 64]), True)
    """

    def __init__(self, layer, d_model, conv=True, kernel_size=5, stride=3, output_padding=1):
        super().__init__()
        self.layer = layer
        self.use_conv = conv
        self.kernel_size = kernel_size
        self.stride = stride
        self.output_padding = output_padding
        if conv:
            self.down = nn.Conv1d(d_model, d_model, kernel_size, stride=stride)
            self.up = nn.ConvTranspose1d(
                d_model, d_model, kernel_size, stride=stride, output_padding=output_padding
            )

    def forward(self, x, frame_lengths=None):
        """Transforms ``x`` ``[batch, time, d_model]``; ``frame_lengths`` gives
        the valid frames of each sequence (all when None)."""
        mask = None if frame_lengths is None else length_mask(frame_lengths, x.shape[1])
        if not self.use_conv:
            return self.layer(x, key_mask=mask)

        time = x.shape[1]
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        if time < self.kernel_size:
            x = F.pad(x, (0, 0, 0, self.kernel_size - time))
        down = self.down(x.transpose(1, 2)).transpose(1, 2)

        down_mask, up_lengths = None, None
        if frame_lengths is not None:
            padded = frame_lengths.clamp(min=self.kernel_size)
            down_lengths = torch.div(
                padded - self.kernel_size, self.stride, rounding_mode="floor"
            ) + 1
            down_mask = length_mask(down_lengths, down.shape[1])
            up_lengths = (
                (down_lengths - 1) * self.stride + self.kernel_size + self.output_padding
            ).clamp(max=frame_lengths)

        down = self.layer(down, key_mask=down_mask)
        if down_mask is not None:
            down = down.masked_fill(~down_mask.unsqueeze(-1), 0.0)
        up = self.up(down.transpose(1, 2)).transpose(1, 2)
        if up.shape[1] >= time:
            up = up[:, :time]
        else:
            up = F.pad(up, (0, 0, 0, time - up.shape[1]))
        if up_lengths is not None:
            up = up.masked_fill(~length_mask(up_lengths, time).unsqueeze(-1), 0.0)
        return up


def init_weights(module):
    """Random initialisation as in WavLM/BERT: N(0, 0.02) linear and embedding
    weights, Kaiming-normal convolutions, unit layer norms (the encoder
    applies it to all its modules: ``encoder.apply(init_weights)``)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) and not hasattr(
        module, "parametrizations"
    ):
        nn.init.kaiming_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
