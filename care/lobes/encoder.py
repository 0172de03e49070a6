"""The CARE dual-branch speech encoder (Dutta and Ganapathy, arXiv 2409.05566).

::

    wavs -> conv feature extractor -> feature projection -> + conv positions
         -> layer norm -> shared layers (WavLM layout)
                            |-> semantic branch: [down-conv -> text layer -> up-conv] x M
                            |      -> masked mean pooling -> (projection) -> ``semantic``
                            |         (regressed on the transcript's text embedding)
                            '-> (detached) acoustic branch: WavLM layers x A
                                   -> linear head -> ``acoustic``
                                      (regressed on frame-level acoustic descriptors)

The gradient routing of the authors' code (``pretraining/train_pase.py`` in
iiscleap/CARE zeroes the acoustic loss's gradient on the shared parameters with
hooks), in one backward pass: the acoustic branch reads a
detached copy of the shared output, so the acoustic loss updates only the
acoustic layers and head; the semantic loss reaches the shared stack through
the (frozen) text layers. ``loss = w_sem * L_sem + w_ac * L_ac;
loss.backward()`` is all a training step needs.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import functools
from typing import NamedTuple, Optional

import torch
from torch import nn

from care.lobes.frontend import (
    ConvFeatureExtractor,
    ConvPositionalEmbedding,
    FeatureProjection,
    length_mask,
    masked_mean,
)
from care.lobes.transformer import (
    RelativePositionBias,
    SemanticLayer,
    TransformerLayer,
    init_weights,
)


class CAREOutput(NamedTuple):
    """What ``CAREEncoder.forward`` returns (a named tuple, so that DDP,
    ``torch.compile`` and tracing see its tensors).

    Attributes
    ----------
    semantic : torch.Tensor
        ``[batch, text_dim]``: masked mean of the semantic branch's last
        layer, projected to the text-embedding size.
    acoustic : torch.Tensor
        ``[batch, frames, target_dim]``: frame-level acoustic predictions
        (zero on padding frames).
    hidden_states : torch.Tensor or None
        ``[layers, batch, frames, d_model]``: the transformer input, then every
        shared, semantic and acoustic layer's output, in that order (see
        ``CAREEncoder.layer_groups``); zero on padding frames. None when not
        requested.
    lengths : torch.Tensor
        ``[batch]``: valid frames of each utterance relative to ``frames``.
    """

    semantic: torch.Tensor
    acoustic: torch.Tensor
    hidden_states: Optional[torch.Tensor]
    lengths: torch.Tensor


class CAREEncoder(nn.Module):
    """The CARE speech encoder: a WavLM-shaped shared stack and two branches,
    a semantic one (text-encoder layers, optionally frozen, between strided
    convolutions) and an acoustic one (speech layers and a linear head).

    All sizes are arguments, so a YAML file describes the model. Weights are
    loaded at construction when ``speech_source`` (a WavLM checkpoint: hub id
    or local folder) or ``text_source`` (a BERT/RoBERTa-family encoder, or a
    sentence-transformers folder) is given; see ``care.lobes.loading``.

    Arguments
    ---------
    d_model : int
        Width of every transformer layer (base: 768).
    num_heads : int
        Attention heads of the speech layers (base: 12).
    ffn_dim : int
        Feed-forward width of the speech layers (base: 3072).
    num_shared_layers : int
        Speech layers shared by both branches (the authors' code: 6).
    num_semantic_layers : int
        Layers of the semantic branch (the authors' code: 6).
    num_acoustic_layers : int
        Speech layers of the acoustic branch (the authors' code: 6).
    text_dim : int
        Size of the utterance-level text embedding that the pooled semantic
        output is regressed on; a linear projection is added when it differs
        from ``d_model``.
    target_dim : int
        Size of the frame-level acoustic targets (PASE+, in the authors'
        code: 256).
    semantic_num_heads : int
        Attention heads of the semantic layers (RoBERTa-base: 12).
    semantic_ffn_dim : int
        Feed-forward width of the semantic layers (RoBERTa-base: 3072).
    semantic_layer_norm_eps : float
        Their layer-norm epsilon (RoBERTa: 1e-5; BERT, MiniLM: 1e-12).
    semantic_conv : bool
        Wrap each semantic layer in strided down-/up-sampling convolutions.
    semantic_conv_kernel : int
        Their kernel size in frames (the authors' code: 5).
    semantic_conv_stride : int
        Their stride (the authors' code: 3).
    semantic_conv_output_padding : int
        Extra output frames of the transposed convolution (the authors' code: 1).
    conv_channels : int
        Channels of the convolutional front end (WavLM: 512).
    conv_kernel_sizes : sequence of int
        Its kernel sizes (WavLM: 10, 3, 3, 3, 3, 2, 2).
    conv_strides : sequence of int
        Its strides (WavLM: 5, 2, 2, 2, 2, 2, 2: 20 ms at 16 kHz).
    conv_bias : bool
        Whether its convolutions have biases (WavLM-base: no).
    pos_conv_kernel : int
        Kernel of the convolutional positional embedding, frames (WavLM: 128).
    pos_conv_groups : int
        Its groups (WavLM: 16).
    num_buckets : int
        Relative position buckets (WavLM: 320).
    max_distance : int
        Relative distance, in frames, where buckets saturate (WavLM: 800).
    layer_norm_eps : float
        Layer-norm epsilon of the speech layers (WavLM: 1e-5).
    dropout : float
        Dropout on hidden states (WavLM and RoBERTa: 0.1).
    attention_dropout : float
        Dropout on attention weights (0.1).
    activation_dropout : float
        Dropout inside the feed-forward blocks of the speech layers (the
        ``microsoft/wavlm-base`` config: 0.0; the authors' code builds its
        WavLM from ``WavLMConfig()`` defaults: 0.1).
    feature_projection_dropout : float, optional
        Dropout after the feature projection (None: ``dropout``; the
        ``microsoft/wavlm-base`` config: 0.1; ``WavLMConfig()`` defaults, as in
        the authors' code: 0.0).
    adapter_init : str
        Initialisation of the layers no checkpoint provides (the semantic
        branch's convolutions and the acoustic head): ``"wavlm"``, as every
        other random layer here (Kaiming-normal convolutions with zero bias,
        N(0, 0.02) linear weights), or ``"pytorch"``, PyTorch's own defaults
        (Kaiming-uniform with ``a=sqrt(5)``, uniform bias), which the authors'
        code leaves in place (a 2.45x smaller convolution std).
    speech_source : str, optional
        WavLM checkpoint to initialise the speech layers from (hub id such as
        ``microsoft/wavlm-base``, or a local folder). None: random.
    speech_layers : sequence of int, optional
        Which checkpoint layers become the shared then acoustic layers
        (default: the first ``num_shared_layers + num_acoustic_layers``).
    text_source : str, optional
        Text encoder to initialise the semantic layers from (hub id such as
        ``roberta-base``, or a local folder). None: random.
    text_layers : sequence of int, optional
        Which text layers become the semantic layers (default: the upper
        ``num_semantic_layers``; the authors' code: RoBERTa-base 6-11).
    freeze_semantic_layers : bool
        Keep the semantic transformer layers frozen (the authors' code: yes); the
        convolutions and projection around them still train.
    freeze_frontend : bool
        Freeze the convolutional front end, feature projection, positional
        convolution and input layer norm (the authors' code: yes, with WavLM weights).
    detach_acoustic : bool
        Feed the acoustic branch a detached copy of the shared output, so that
        the acoustic loss never updates the shared stack (the authors' code:
        yes).
    local_files_only : bool
        Never reach the model hub when loading weights.

    Example
    -------
    >>> encoder = CAREEncoder(
    ...     d_model=64, num_heads=4, ffn_dim=128, num_shared_layers=2,
    ...     num_semantic_layers=2, num_acoustic_layers=2, text_dim=32,
    ...     target_dim=8, semantic_num_heads=4, semantic_ffn_dim=128,
    ...     conv_channels=32, pos_conv_kernel=16, pos_conv_groups=4,
    ...     freeze_semantic_layers=False,
    ... )
    >>> out = encoder(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> out.semantic.shape, out.acoustic.shape, out.hidden_states.shape
    (torch.Size([2, 32]), torch.Size([2, 49, 8]), torch.Size([7, 2, 49, 64]))
    >>> out.lengths
    tensor([1.0000, 0.4898])
    >>> encoder.layer_groups
    {'input': [0], 'shared': [1, 2], 'semantic': [3, 4], 'acoustic': [5, 6]}
    """

    def __init__(
        self,
        d_model=768,
        num_heads=12,
        ffn_dim=3072,
        num_shared_layers=6,
        num_semantic_layers=6,
        num_acoustic_layers=6,
        text_dim=768,
        target_dim=256,
        semantic_num_heads=12,
        semantic_ffn_dim=3072,
        semantic_layer_norm_eps=1e-5,
        semantic_conv=True,
        semantic_conv_kernel=5,
        semantic_conv_stride=3,
        semantic_conv_output_padding=1,
        conv_channels=512,
        conv_kernel_sizes=(10, 3, 3, 3, 3, 2, 2),
        conv_strides=(5, 2, 2, 2, 2, 2, 2),
        conv_bias=False,
        pos_conv_kernel=128,
        pos_conv_groups=16,
        num_buckets=320,
        max_distance=800,
        layer_norm_eps=1e-5,
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        feature_projection_dropout=None,
        adapter_init="wavlm",
        speech_source=None,
        speech_layers=None,
        text_source=None,
        text_layers=None,
        freeze_semantic_layers=True,
        freeze_frontend=False,
        detach_acoustic=True,
        local_files_only=False,
    ):
        super().__init__()
        self.config = {
            key: value
            for key, value in locals().items()
            if key not in ("self", "__class__")
        }
        self.detach_acoustic = detach_acoustic

        self.feature_extractor = ConvFeatureExtractor(
            conv_channels, conv_kernel_sizes, conv_strides, bias=conv_bias
        )
        if feature_projection_dropout is None:
            feature_projection_dropout = dropout
        self.feature_projection = FeatureProjection(
            conv_channels, d_model, layer_norm_eps, feature_projection_dropout
        )
        self.pos_conv = ConvPositionalEmbedding(d_model, pos_conv_kernel, pos_conv_groups)
        self.encoder_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.relative_position = RelativePositionBias(num_heads, num_buckets, max_distance)

        speech_layer = functools.partial(
            TransformerLayer,
            d_model,
            num_heads,
            ffn_dim,
            layer_norm_eps=layer_norm_eps,
            dropout=dropout,
            attention_dropout=attention_dropout,
            activation_dropout=activation_dropout,
            gated_relative_position=True,
        )
        self.shared_layers = nn.ModuleList(speech_layer() for _ in range(num_shared_layers))
        self.semantic_layers = nn.ModuleList(
            SemanticLayer(
                TransformerLayer(
                    d_model,
                    semantic_num_heads,
                    semantic_ffn_dim,
                    layer_norm_eps=semantic_layer_norm_eps,
                    dropout=dropout,
                    attention_dropout=attention_dropout,
                ),
                d_model,
                conv=semantic_conv,
                kernel_size=semantic_conv_kernel,
                stride=semantic_conv_stride,
                output_padding=semantic_conv_output_padding,
            )
            for _ in range(num_semantic_layers)
        )
        self.semantic_proj = (
            nn.Linear(d_model, text_dim) if text_dim != d_model else nn.Identity()
        )
        self.acoustic_layers = nn.ModuleList(
            speech_layer() for _ in range(num_acoustic_layers)
        )
        self.acoustic_head = nn.Linear(d_model, target_dim)
        self.apply(init_weights)
        if adapter_init == "pytorch":
            for module in self.adapter_modules():
                module.reset_parameters()
        elif adapter_init != "wavlm":
            raise ValueError(f"adapter_init must be 'wavlm' or 'pytorch', got {adapter_init!r}")

        # Imported here: loading pulls in transformers, which plain use does not need.
        from care.lobes import loading

        if speech_source is not None:
            loading.load_speech_weights(
                self, speech_source, speech_layers, local_files_only=local_files_only
            )
        if text_source is not None:
            loading.load_text_layers(
                self, text_source, text_layers, local_files_only=local_files_only
            )
        self.freeze(frontend=freeze_frontend, semantic_layers=freeze_semantic_layers)

    def freeze(self, frontend=False, semantic_layers=True):
        """Sets which parts train. Frozen parts get ``requires_grad=False``
        (gradients still flow *through* frozen semantic layers to the shared
        stack).

        Arguments
        ---------
        frontend : bool
            Freeze the feature extractor, feature projection, positional
            convolution and input layer norm.
        semantic_layers : bool
            Freeze the transformer layers of the semantic branch (not the
            convolutions around them nor the output projection).
        """
        for module in self.frontend_modules():
            module.requires_grad_(not frontend)
        for semantic in self.semantic_layers:
            semantic.layer.requires_grad_(not semantic_layers)

    def adapter_modules(self):
        """The layers no checkpoint initialises: the semantic branch's
        convolutions and projection, the acoustic head."""
        modules = [m for s in self.semantic_layers if s.use_conv for m in (s.down, s.up)]
        modules += [m for m in (self.semantic_proj, self.acoustic_head) if isinstance(m, nn.Linear)]
        return modules

    def frontend_modules(self):
        """The modules before the first transformer layer."""
        return [self.feature_extractor, self.feature_projection, self.pos_conv, self.encoder_norm]

    def parameter_groups(self):
        """Trainable parameters by what updates them.

        Returns
        -------
        dict
            ``semantic``: parameters the semantic loss updates (front end when
            trainable, relative position bias, shared layers, the semantic
            branch's trainable parts); ``acoustic``: parameters the acoustic
            loss updates (acoustic layers and head); ``frozen``: parameters
            nothing updates.
        """
        acoustic = list(self.acoustic_layers.parameters()) + list(
            self.acoustic_head.parameters()
        )
        acoustic_ids = {id(p) for p in acoustic}
        groups = {"semantic": [], "acoustic": [], "frozen": []}
        for param in self.parameters():
            if not param.requires_grad:
                groups["frozen"].append(param)
            elif id(param) in acoustic_ids:
                groups["acoustic"].append(param)
            else:
                groups["semantic"].append(param)
        if not self.detach_acoustic:
            groups["acoustic"] = groups["acoustic"] + groups["semantic"]
        return groups

    def parameter_counts(self):
        """Parameter counts: ``total``, ``trainable``, ``frozen``, and by part
        (``frontend``, ``shared``, ``semantic_layers``, ``semantic_convs``,
        ``semantic_proj``, ``acoustic``)."""

        def count(*modules):
            return sum(p.numel() for m in modules for p in m.parameters())

        total = count(self)
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        semantic_layers = count(*(s.layer for s in self.semantic_layers))
        return {
            "total": total,
            "trainable": trainable,
            "frozen": total - trainable,
            "frontend": count(*self.frontend_modules()),
            "shared": count(self.relative_position, self.shared_layers),
            "semantic_layers": semantic_layers,
            "semantic_convs": count(self.semantic_layers) - semantic_layers,
            "semantic_proj": count(self.semantic_proj),
            "acoustic": count(self.acoustic_layers, self.acoustic_head),
        }

    @property
    def layer_groups(self):
        """Indices into ``hidden_states`` of each part of the encoder."""
        shared = len(self.shared_layers)
        semantic = len(self.semantic_layers)
        acoustic = len(self.acoustic_layers)
        return {
            "input": [0],
            "shared": list(range(1, 1 + shared)),
            "semantic": list(range(1 + shared, 1 + shared + semantic)),
            "acoustic": list(range(1 + shared + semantic, 1 + shared + semantic + acoustic)),
        }

    @property
    def num_hidden_states(self):
        """Number of layers in ``hidden_states``."""
        return 1 + len(self.shared_layers) + len(self.semantic_layers) + len(self.acoustic_layers)

    @property
    def grid(self):
        """The encoder's frame grid (:class:`care.lobes.frontend.FrameGrid`)."""
        return self.feature_extractor.grid

    def frame_lengths(self, num_samples):
        """Frames the encoder produces from ``num_samples`` samples (int or tensor)."""
        return self.grid.num_frames(num_samples)

    def forward(self, wavs, wav_lens=None, output_hidden_states=True):
        """Encodes a batch of 16 kHz waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` at 16 kHz, zero-padded.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths in (0, 1] (all 1 when None).
        output_hidden_states : bool
            Stack every layer's output into ``hidden_states`` (set False in
            training to save memory).

        Returns
        -------
        CAREOutput
        """
        if wavs.dim() != 2:
            raise ValueError(
                f"CAREEncoder expects waveforms [batch, samples], got shape {tuple(wavs.shape)}"
            )
        batch, max_samples = wavs.shape
        num_samples = self.grid.checked_samples(wav_lens, max_samples, wavs.device)

        feats, frame_lengths = self.feature_extractor(wavs, num_samples)
        time = feats.shape[1]
        mask = None if frame_lengths is None else length_mask(frame_lengths, time)
        x = self.feature_projection(feats)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        x = self.dropout(self.encoder_norm(x + self.pos_conv(x)))
        hidden = [x]

        position_bias = self.relative_position(time)
        for layer in self.shared_layers:
            x = layer(x, key_mask=mask, position_bias=position_bias)
            hidden.append(x)
        shared = x

        for layer in self.semantic_layers:
            x = layer(x, frame_lengths)
            hidden.append(x)
        relative = None if frame_lengths is None else frame_lengths.float() / time
        semantic = self.semantic_proj(masked_mean(x.float(), relative))

        if self.detach_acoustic:
            x, position_bias = shared.detach(), position_bias.detach()
        else:
            x = shared
        for layer in self.acoustic_layers:
            x = layer(x, key_mask=mask, position_bias=position_bias)
            hidden.append(x)
        acoustic = self.acoustic_head(x)

        if frame_lengths is None:
            lengths = torch.ones(batch, device=wavs.device)
        else:
            lengths = frame_lengths.float() / time
            acoustic = acoustic.masked_fill(~mask.unsqueeze(-1), 0.0)

        hidden_states = None
        if output_hidden_states:
            dtype = functools.reduce(torch.promote_types, {h.dtype for h in hidden})
            hidden_states = torch.stack([h.to(dtype) for h in hidden])
            if mask is not None:
                hidden_states = hidden_states.masked_fill(~mask[None, :, :, None], 0.0)
        return CAREOutput(semantic, acoustic, hidden_states, lengths)

