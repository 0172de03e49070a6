"""The CARE encoder: shapes, padding invariance, gradient routing, precision."""

import math

import pytest
import torch

from care.lobes import CAREEncoder
from care.lobes.frontend import conv_output_lengths


def pad_batch(clips):
    """Zero-pads 1-D clips into ``[batch, samples]`` with relative lengths."""
    longest = max(len(clip) for clip in clips)
    wavs = torch.zeros(len(clips), longest)
    for i, clip in enumerate(clips):
        wavs[i, : len(clip)] = clip
    lens = torch.tensor([len(clip) / longest for clip in clips])
    return wavs, lens


def perturb_(encoder, seed=0):
    """Moves every bias and norm away from its zero/one initialisation, so
    that a padding frame that wrongly picks up a bias shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in encoder.named_parameters():
            if "bias" in name or "norm" in name or "gate_const" in name:
                param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return encoder


def test_frame_count_matches_conv_front_end(tiny_kwargs):
    encoder = CAREEncoder(**tiny_kwargs).eval()
    for samples in (400, 401, 719, 720, 721, 16000, 80000, 80321):
        out = encoder(torch.randn(1, samples), output_hidden_states=False)
        expected = conv_output_lengths(samples, (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
        assert out.acoustic.shape[1] == expected == encoder.frame_lengths(samples)
    # 50 Hz: one frame per 320 samples after the first 400.
    assert encoder.frame_lengths(80000) == 249


def test_padding_invariance(clips, tiny_kwargs):
    """Each clip gives the same outputs alone and zero-padded inside a batch,
    for every part of the encoder, including clips shorter than the semantic
    convolution's kernel (FSDD: 0.3 s)."""
    torch.manual_seed(0)
    encoder = perturb_(CAREEncoder(**tiny_kwargs, freeze_semantic_layers=False)).eval()
    # Crops of 5 to 10 frames: every remainder of the semantic conv's stride.
    clips = list(clips) + [clips[0][: 400 + 320 * (frames - 1)] for frames in range(5, 11)]
    wavs, lens = pad_batch(clips)
    with torch.no_grad():
        batch = encoder(wavs, lens)
        for i, clip in enumerate(clips):
            alone = encoder(clip.unsqueeze(0))
            frames = alone.acoustic.shape[1]
            assert round(float(batch.lengths[i]) * batch.acoustic.shape[1]) == frames
            torch.testing.assert_close(batch.semantic[i], alone.semantic[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(
                batch.acoustic[i, :frames], alone.acoustic[0], atol=1e-4, rtol=1e-4
            )
            torch.testing.assert_close(
                batch.hidden_states[:, i, :frames], alone.hidden_states[:, 0], atol=1e-4, rtol=1e-4
            )
            assert batch.acoustic[i, frames:].abs().sum() == 0
            assert batch.hidden_states[:, i, frames:].abs().sum() == 0


def test_padding_invariance_without_semantic_conv(clips, tiny_kwargs):
    encoder = perturb_(CAREEncoder(**tiny_kwargs, semantic_conv=False)).eval()
    wavs, lens = pad_batch(clips[:3])
    with torch.no_grad():
        batch = encoder(wavs, lens)
        alone = encoder(clips[1].unsqueeze(0))
    torch.testing.assert_close(batch.semantic[1], alone.semantic[0], atol=1e-4, rtol=1e-4)


def test_hidden_states_order(tiny_kwargs):
    """hidden_states = [input, shared..., semantic..., acoustic...]: the
    acoustic branch starts from the last shared layer, the semantic pooled
    output is the mean of the last semantic layer."""
    encoder = CAREEncoder(**dict(tiny_kwargs, text_dim=64)).eval()
    with torch.no_grad():
        out = encoder(torch.randn(2, 8000))
        groups = encoder.layer_groups
        assert out.hidden_states.shape[0] == encoder.num_hidden_states == 7
        assert sum(len(v) for v in groups.values()) == encoder.num_hidden_states
        shared_out = out.hidden_states[groups["shared"][-1]]
        first_acoustic = encoder.acoustic_layers[0](
            shared_out, position_bias=encoder.relative_position(shared_out.shape[1])
        )
        torch.testing.assert_close(out.hidden_states[groups["acoustic"][0]], first_acoustic)
        torch.testing.assert_close(
            out.semantic, out.hidden_states[groups["semantic"][-1]].mean(dim=1)
        )
        torch.testing.assert_close(
            out.acoustic, encoder.acoustic_head(out.hidden_states[groups["acoustic"][-1]])
        )


def grads(params):
    """Gradient of each parameter (None where autograd gave none)."""
    return [None if p.grad is None else p.grad.clone() for p in params]


def has_grad(param):
    return param.grad is not None and bool(param.grad.abs().sum() > 0)


def test_gradient_routing(clips, tiny_kwargs):
    """Semantic loss: shared stack and trainable semantic parts, never frozen
    text layers nor the acoustic branch. Acoustic loss: acoustic layers and
    head only. Together, in one backward pass: the sum of the two."""
    torch.manual_seed(0)
    encoder = CAREEncoder(**tiny_kwargs, freeze_semantic_layers=True).eval()
    wavs, lens = pad_batch(clips[:3])
    text_target = torch.randn(3, tiny_kwargs["text_dim"])
    groups = encoder.parameter_groups()
    frozen_text = list(encoder.semantic_layers[0].layer.parameters())
    assert all(any(p is f for f in groups["frozen"]) for p in frozen_text)

    def losses():
        out = encoder(wavs, lens, output_hidden_states=False)
        semantic = torch.nn.functional.mse_loss(out.semantic, text_target)
        acoustic = out.acoustic.pow(2).mean()
        return semantic, acoustic

    encoder.zero_grad(set_to_none=True)
    losses()[0].backward()
    assert all(has_grad(p) for p in encoder.shared_layers.parameters())
    assert all(has_grad(p) for p in encoder.feature_extractor.parameters())
    assert all(has_grad(p) for p in encoder.semantic_layers[0].down.parameters())
    assert all(p.grad is None for p in groups["acoustic"])
    assert all(p.grad is None for p in groups["frozen"])
    semantic_grads = grads(encoder.parameters())

    encoder.zero_grad(set_to_none=True)
    losses()[1].backward()
    assert all(has_grad(p) for p in groups["acoustic"])
    assert all(p.grad is None for p in groups["semantic"])
    assert all(p.grad is None for p in groups["frozen"])
    acoustic_grads = grads(encoder.parameters())

    encoder.zero_grad(set_to_none=True)
    semantic, acoustic = losses()
    (semantic + acoustic).backward()
    for param, g_sem, g_ac in zip(encoder.parameters(), semantic_grads, acoustic_grads):
        if g_sem is None and g_ac is None:
            assert param.grad is None
        else:
            expected = g_sem if g_ac is None else g_ac if g_sem is None else g_sem + g_ac
            torch.testing.assert_close(param.grad, expected)


def test_acoustic_loss_reaches_shared_stack_when_not_detached(tiny_kwargs):
    encoder = CAREEncoder(**tiny_kwargs, detach_acoustic=False).eval()
    encoder(torch.randn(2, 8000), output_hidden_states=False).acoustic.pow(2).mean().backward()
    assert all(has_grad(p) for p in encoder.shared_layers.parameters())
    acoustic_group = {id(p) for p in encoder.parameter_groups()["acoustic"]}
    assert all(id(p) in acoustic_group for p in encoder.shared_layers.parameters())


def test_frozen_frontend_gets_no_gradient(tiny_kwargs):
    encoder = CAREEncoder(**tiny_kwargs, freeze_frontend=True).eval()
    out = encoder(torch.randn(2, 8000), output_hidden_states=False)
    (out.semantic.pow(2).mean() + out.acoustic.pow(2).mean()).backward()
    for module in encoder.frontend_modules():
        assert all(p.grad is None for p in module.parameters())
    assert all(has_grad(p) for p in encoder.shared_layers.parameters())


def test_rejects_bad_input(tiny_kwargs):
    encoder = CAREEncoder(**tiny_kwargs)
    with pytest.raises(ValueError, match="fewer than the 400 samples"):
        encoder(torch.randn(1, 399))
    with pytest.raises(ValueError, match="batch index 1"):
        encoder(torch.randn(2, 1000), torch.tensor([1.0, 0.3]))
    with pytest.raises(ValueError, match=r"\[batch, samples\]"):
        encoder(torch.randn(2, 1, 1000))


def test_bf16_autocast_on_cpu(clips, tiny_kwargs):
    """Runs under bf16 autocast, stays finite and close to float32."""
    torch.manual_seed(0)
    encoder = CAREEncoder(**tiny_kwargs).eval()
    wavs, lens = pad_batch(clips[:3])
    with torch.no_grad():
        reference = encoder(wavs, lens)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = encoder(wavs, lens)
    assert torch.isfinite(out.semantic).all() and torch.isfinite(out.acoustic).all()
    assert torch.isfinite(out.hidden_states).all()
    cosine = torch.nn.functional.cosine_similarity(
        out.semantic.float(), reference.semantic, dim=-1
    )
    assert bool((cosine > 0.98).all()), cosine


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_training_step(clips, tiny_kwargs):
    """On a GPU: one bf16 autocast step, finite gradients, padding invariance."""
    encoder = CAREEncoder(**tiny_kwargs).cuda()
    wavs, lens = pad_batch(clips[:3])
    wavs, lens = wavs.cuda(), lens.cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = encoder(wavs, lens, output_hidden_states=False)
        loss = out.semantic.float().pow(2).mean() + out.acoustic.float().pow(2).mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)
    encoder.eval()
    with torch.no_grad():
        batch = encoder(wavs, lens)
        alone = encoder(wavs[1:2, : len(clips[1])])
    torch.testing.assert_close(batch.semantic[1], alone.semantic[0], atol=1e-4, rtol=1e-4)


def test_unfrozen_semantic_layers_learn_from_semantic_loss_only(tiny_kwargs):
    encoder = CAREEncoder(**tiny_kwargs, freeze_semantic_layers=False).eval()
    out = encoder(torch.randn(2, 8000), output_hidden_states=False)
    out.semantic.pow(2).mean().backward()
    assert all(has_grad(p) for p in encoder.semantic_layers.parameters())
    encoder.zero_grad(set_to_none=True)
    out = encoder(torch.randn(2, 8000), output_hidden_states=False)
    out.acoustic.pow(2).mean().backward()
    assert all(p.grad is None for p in encoder.semantic_layers.parameters())


def test_fixed_length_forward_is_one_compile_graph(tiny_kwargs):
    """On fixed-length crops the training forward traces without graph breaks
    (``torch.compile`` then optimises it whole)."""
    import torch._dynamo as dynamo

    encoder = CAREEncoder(**tiny_kwargs).train()
    explanation = dynamo.explain(encoder)(torch.randn(2, 16000), output_hidden_states=False)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    dynamo.reset()


def test_adapter_init_and_dropout_options(tiny_kwargs):
    """``adapter_init="pytorch"`` leaves PyTorch's defaults on the layers no
    checkpoint provides (as the authors' code does): a convolution std of
    1/sqrt(3 fan_in), 2.45x below Kaiming-normal's sqrt(2 / fan_in), and
    non-zero biases; ``feature_projection_dropout`` overrides ``dropout``."""
    ours = CAREEncoder(**tiny_kwargs)
    theirs = CAREEncoder(**tiny_kwargs, adapter_init="pytorch", feature_projection_dropout=0.0)
    fan_in = tiny_kwargs["d_model"] * 5
    down_ours, down_theirs = ours.semantic_layers[0].down, theirs.semantic_layers[0].down
    assert abs(down_ours.weight.std().item() / math.sqrt(2 / fan_in) - 1) < 0.05
    assert abs(down_theirs.weight.std().item() / math.sqrt(1 / (3 * fan_in)) - 1) < 0.05
    assert down_ours.bias.abs().max() == 0 and down_theirs.bias.abs().max() > 0
    assert ours.acoustic_head.bias.abs().max() == 0 and theirs.acoustic_head.bias.abs().max() > 0
    assert ours.feature_projection.dropout.p == 0.1 and theirs.feature_projection.dropout.p == 0.0
    with pytest.raises(ValueError, match="adapter_init"):
        CAREEncoder(**tiny_kwargs, adapter_init="xavier")
