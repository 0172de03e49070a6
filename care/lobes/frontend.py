"""The waveform front end of the CARE encoder, laid out as WavLM's.

A stack of strided 1-D convolutions turns 16 kHz samples into 50 Hz frames
(``ConvFeatureExtractor``), a layer norm and a linear map take the frames to the
model width (``FeatureProjection``), and a grouped convolution adds relative
position information before the first transformer layer
(``ConvPositionalEmbedding``).

Unlike WavLM's reference code, the per-channel normalisation of the first
convolution is computed over the valid samples only, so an utterance gives the
same frames alone and zero-padded inside a batch.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# WavLM's convolution stack: 400-sample receptive field, 320-sample hop.
WAVLM_KERNEL_SIZES = (10, 3, 3, 3, 3, 2, 2)
WAVLM_STRIDES = (5, 2, 2, 2, 2, 2, 2)


def conv_output_lengths(lengths, kernel_sizes=WAVLM_KERNEL_SIZES, strides=WAVLM_STRIDES):
    """Number of output frames of a stack of unpadded strided convolutions.

    Arguments
    ---------
    lengths : torch.Tensor or int
        Input lengths in samples.
    kernel_sizes : sequence of int
        Kernel size of each convolution (default: WavLM's).
    strides : sequence of int
        Stride of each convolution (default: WavLM's).

    Returns
    -------
    torch.Tensor or int
        Output lengths in frames (zero where the input is shorter than the
        receptive field).

    Example
    -------
    >>> conv_output_lengths(16000, (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    49
    >>> conv_output_lengths(torch.tensor([400, 399, 80000]), (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    tensor([  1,   0, 249])
    >>> conv_output_lengths(16000)
    49
    """
    for kernel, stride in zip(kernel_sizes, strides):
        if isinstance(lengths, torch.Tensor):
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
            lengths = lengths.clamp(min=0)
        else:
            lengths = max((lengths - kernel) // stride + 1, 0)
    return lengths


def receptive_field(kernel_sizes, strides):
    """Number of input samples that one output frame of the stack sees.

    Example
    -------
    >>> receptive_field((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    400
    """
    field, jump = 1, 1
    for kernel, stride in zip(kernel_sizes, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def length_mask(lengths, max_length):
    """Boolean mask ``[batch, max_length]``, True on the valid steps.

    Example
    -------
    >>> length_mask(torch.tensor([1, 3]), 3)
    tensor([[ True, False, False],
            [ True,  True,  True]])
    """
    steps = torch.arange(max_length, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


class FrameGrid:
    """The frame grid of a stack of unpadded strided convolutions: frame ``i``
    sees samples ``[hop * i, hop * i + field)``. The encoder, the frame
    targets, pretraining's crops and inference all read it from here.

    Arguments
    ---------
    kernel_sizes : sequence of int
        Kernel size of each convolution (default: WavLM's).
    strides : sequence of int
        Stride of each convolution (default: WavLM's).

    Example
    -------
    >>> grid = FrameGrid()
    >>> grid.hop, grid.field, grid.num_frames(16000)
    (320, 400, 49)
    >>> grid.valid_samples(torch.tensor([1.0, 0.5]), 16000)
    tensor([16000,  8000])
    >>> FrameGrid((10, 4), (5, 4)) == FrameGrid([10, 4], [5, 4])
    True
    """

    def __init__(self, kernel_sizes=WAVLM_KERNEL_SIZES, strides=WAVLM_STRIDES):
        if len(kernel_sizes) != len(strides):
            raise ValueError(
                f"conv_kernel_sizes {list(kernel_sizes)} and conv_strides "
                f"{list(strides)} must have the same length"
            )
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.strides = tuple(int(s) for s in strides)
        self.hop = math.prod(self.strides)  # samples between two frames
        self.field = receptive_field(self.kernel_sizes, self.strides)  # samples one frame sees

    def num_frames(self, num_samples):
        """Frames on the grid for ``num_samples`` samples (int or tensor)."""
        return conv_output_lengths(num_samples, self.kernel_sizes, self.strides)

    @staticmethod
    def valid_samples(wav_lens, max_samples, device=None):
        """Valid samples ``[batch]`` of zero-padded waveforms with relative
        lengths ``wav_lens`` (None when ``wav_lens`` is None), rounded and
        clamped to ``[1, max_samples]``: the one rounding the encoder and the
        on-the-fly targets share."""
        if wav_lens is None:
            return None
        num_samples = torch.round(wav_lens.to(device).float() * max_samples).long()
        return num_samples.clamp(min=1, max=max_samples)

    def checked_samples(self, wav_lens, max_samples, device=None):
        """:meth:`valid_samples` for the encoder: None when no waveform is
        padded (the fast path of fixed-length crops); raises ``ValueError``
        for a waveform shorter than one frame's receptive field. One host
        sync when ``wav_lens`` is given."""
        num_samples = self.valid_samples(wav_lens, max_samples, device)
        shortest = max_samples if num_samples is None else int(num_samples.min())
        if shortest < self.field:
            which = "" if num_samples is None else f" (batch index {int(num_samples.argmin())})"
            raise ValueError(
                f"an utterance{which} has {shortest} samples, fewer than the "
                f"{self.field} samples of one encoder frame ({self.field / 16:.0f} ms at 16 kHz); "
                "drop or pad such clips in data preparation"
            )
        return None if shortest == max_samples else num_samples

    def __eq__(self, other):
        return isinstance(other, FrameGrid) and (self.kernel_sizes, self.strides) == (
            other.kernel_sizes,
            other.strides,
        )

    def __hash__(self):
        return hash((self.kernel_sizes, self.strides))

    def __repr__(self):
        return f"FrameGrid(kernel_sizes={self.kernel_sizes}, strides={self.strides})"


WAVLM_GRID = FrameGrid()


def masked_mean(hidden, lengths=None):
    """Mean over valid frames (the one masked pooling of the encoder and the
    probes).

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

    Example
    -------
    >>> hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean(hidden, torch.tensor([2 / 3]))
    tensor([[2.]])
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


# Each pooling and the width of its output, in multiples of the input's.
POOLED_WIDTH = {"mean": 1, "mean_std": 2}
POOLINGS = tuple(POOLED_WIDTH)


def check_pooling(pooling):
    """``pooling`` if it is one of :data:`POOLINGS`, else :class:`ValueError`."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    return pooling


def masked_pool(hidden, lengths=None, pooling="mean"):
    """Pools valid frames: ``mean`` (:func:`masked_mean`, the paper's and the
    authors' code's pooling) or ``mean_std``, statistics pooling as in
    SpeechBrain's x-vectors: the mean and the standard deviation over valid
    frames side by side, so the output has twice the input's ``dim``.

    Arguments
    ---------
    hidden : torch.Tensor
        ``[batch, frames, dim]`` or ``[layers, batch, frames, dim]``.
    lengths : torch.Tensor, optional
        ``[batch]`` relative valid lengths. None: all frames are valid.
    pooling : str
        ``mean`` or ``mean_std``.

    Returns
    -------
    torch.Tensor
        ``[batch, dim]`` or ``[batch, layers, dim]`` (``2 * dim`` for
        ``mean_std``).

    Example
    -------
    >>> hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_pool(hidden, torch.tensor([2 / 3]), "mean_std")
    tensor([[2., 1.]])
    """
    check_pooling(pooling)
    mean = masked_mean(hidden, lengths)
    if pooling == "mean":
        return mean
    centred = hidden - (mean.transpose(0, 1) if hidden.dim() == 4 else mean).unsqueeze(-2)
    std = masked_mean(centred.square(), lengths).clamp(min=0).sqrt()  # population std
    return torch.cat([mean, std], dim=-1)


class ChannelNorm(nn.Module):
    """Normalises each channel over time (WavLM's ``GroupNorm`` with one group
    per channel), counting only the valid steps of each sequence.

    Arguments
    ---------
    num_channels : int
        Number of channels.
    eps : float
        Added to the variance.

    Example
    -------
    >>> norm = ChannelNorm(4)
    >>> x = torch.randn(2, 4, 10)
    >>> torch.allclose(norm(x), torch.nn.functional.group_norm(x, 4), atol=1e-5)
    True
    >>> padded = torch.cat([x[:1, :, :6], torch.zeros(1, 4, 4)], dim=2)
    >>> out = norm(padded, lengths=torch.tensor([6]))
    >>> torch.allclose(out[..., :6], norm(x[:1, :, :6]), atol=1e-5)
    True
    """

    def __init__(self, num_channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x, lengths=None):
        """Normalises ``x`` ``[batch, channels, time]``; ``lengths`` counts the
        valid steps of each sequence (all steps when None)."""
        if lengths is None:
            return F.group_norm(
                x, x.shape[1], self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps
            )
        dtype = x.dtype
        x = x.float()
        mask = length_mask(lengths, x.shape[-1]).unsqueeze(1).to(x.dtype)
        count = lengths.clamp(min=1).to(x.dtype).view(-1, 1, 1)
        mean = (x * mask).sum(-1, keepdim=True) / count
        var = (((x - mean) * mask) ** 2).sum(-1, keepdim=True) / count
        x = (x - mean) * torch.rsqrt(var + self.eps)
        x = x * self.weight.view(1, -1, 1) + self.bias.view(1, -1, 1)
        return x.to(dtype)


class ConvFeatureExtractor(nn.Module):
    """WavLM's convolutional waveform encoder: strided 1-D convolutions, each
    followed by GELU, with a per-channel normalisation after the first.

    Arguments
    ---------
    channels : int
        Output channels of every convolution (WavLM: 512).
    kernel_sizes : sequence of int
        Kernel size of each convolution (WavLM: 10, 3, 3, 3, 3, 2, 2).
    strides : sequence of int
        Stride of each convolution (WavLM: 5, 2, 2, 2, 2, 2, 2, a 320-sample
        or 20 ms hop at 16 kHz).
    bias : bool
        Whether the convolutions have a bias (WavLM-base: no).

    Example
    -------
    >>> extractor = ConvFeatureExtractor(channels=32)
    >>> feats, frames = extractor(torch.randn(2, 16000), torch.tensor([16000, 8000]))
    >>> feats.shape, frames
    (torch.Size([2, 49, 32]), tensor([49, 24]))
    """

    def __init__(
        self,
        channels=512,
        kernel_sizes=(10, 3, 3, 3, 3, 2, 2),
        strides=(5, 2, 2, 2, 2, 2, 2),
        bias=False,
    ):
        super().__init__()
        self.grid = FrameGrid(kernel_sizes, strides)
        self.kernel_sizes = self.grid.kernel_sizes
        self.strides = self.grid.strides
        in_channels = [1] + [channels] * (len(kernel_sizes) - 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, channels, k, stride=s, bias=bias)
            for c_in, k, s in zip(in_channels, kernel_sizes, strides)
        )
        self.norm = ChannelNorm(channels)

    @property
    def receptive_field(self):
        """Samples seen by one output frame (WavLM: 400, 25 ms at 16 kHz)."""
        return self.grid.field

    @property
    def hop_length(self):
        """Samples between two output frames (WavLM: 320, 20 ms at 16 kHz)."""
        return self.grid.hop

    def output_lengths(self, num_samples):
        """Frames produced from ``num_samples`` samples (int or tensor)."""
        return self.grid.num_frames(num_samples)

    def forward(self, wavs, num_samples=None):
        """Computes frames ``[batch, frames, channels]`` from ``wavs``
        ``[batch, samples]``.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms ``[batch, samples]``.
        num_samples : torch.Tensor, optional
            Valid samples of each waveform (all when None).

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, channels]``.
        frame_lengths : torch.Tensor or None
            Valid frames of each sequence (None when ``num_samples`` is None).
        """
        x = wavs.unsqueeze(1)
        norm_lengths, frame_lengths = None, None
        if num_samples is not None:
            norm_lengths = conv_output_lengths(
                num_samples, self.kernel_sizes[:1], self.strides[:1]
            )
            frame_lengths = self.output_lengths(num_samples)
        for index, conv in enumerate(self.convs):
            x = conv(x)
            if index == 0:
                x = self.norm(x, norm_lengths)
            x = F.gelu(x)
        return x.transpose(1, 2), frame_lengths


class FeatureProjection(nn.Module):
    """Layer norm and linear map from the convolution channels to the model
    width, then dropout (WavLM's feature projection).

    Example
    -------
    >>> projection = FeatureProjection(32, 64)
    >>> projection(torch.randn(2, 49, 32)).shape
    torch.Size([2, 49, 64])
    """

    def __init__(self, in_channels, d_model, layer_norm_eps=1e-5, dropout=0.1):
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_channels, eps=layer_norm_eps)
        self.projection = nn.Linear(in_channels, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Maps ``[batch, frames, in_channels]`` to ``[batch, frames, d_model]``."""
        return self.dropout(self.projection(self.layer_norm(x)))


class ConvPositionalEmbedding(nn.Module):
    """WavLM's convolutional relative positional embedding: a grouped,
    weight-normalised convolution over time, followed by GELU; its output is
    added to the frames by the caller.

    Padding frames must be zeroed before this module so that a padded
    utterance sees the same zeros as one alone.

    Arguments
    ---------
    d_model : int
        Model width.
    kernel_size : int
        Kernel size in frames (WavLM: 128).
    groups : int
        Convolution groups (WavLM: 16).

    Example
    -------
    >>> pos_conv = ConvPositionalEmbedding(64, kernel_size=16, groups=4)
    >>> pos_conv(torch.randn(2, 49, 64)).shape
    torch.Size([2, 49, 64])
    """

    def __init__(self, d_model, kernel_size=128, groups=16):
        super().__init__()
        conv = nn.Conv1d(
            d_model, d_model, kernel_size, padding=kernel_size // 2, groups=groups
        )
        std = (4.0 / (kernel_size * d_model)) ** 0.5
        nn.init.normal_(conv.weight, mean=0.0, std=std)
        nn.init.zeros_(conv.bias)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        # An even kernel with padding k // 2 gives one frame too many.
        self.num_remove = 1 if kernel_size % 2 == 0 else 0

    @torch.no_grad()
    def set_weight(self, weight, bias):
        """Loads an effective (already weight-normalised) kernel and bias."""
        parametrization = self.conv.parametrizations.weight
        # weight = g * v / ||v||, norms taken over all dims but the kernel one.
        parametrization.original0.copy_(weight.norm(dim=(0, 1), keepdim=True))
        parametrization.original1.copy_(weight)
        self.conv.bias.copy_(bias)

    def forward(self, x):
        """Positional term ``[batch, frames, d_model]`` for ``x`` of the same shape."""
        out = self.conv(x.transpose(1, 2))
        if self.num_remove:
            out = out[..., : -self.num_remove]
        return F.gelu(out).transpose(1, 2)
