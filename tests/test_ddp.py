"""The encoder under DistributedDataParallel (two CPU processes, gloo): the
single backward of both losses needs no unused-parameter search, and the
ranks end a step with the same weights."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from care.lobes import CAREEncoder

SIZES = dict(
    d_model=32, num_heads=2, ffn_dim=64, num_shared_layers=1, num_semantic_layers=1,
    num_acoustic_layers=1, text_dim=16, target_dim=4, semantic_num_heads=2,
    semantic_ffn_dim=64, conv_channels=16, pos_conv_kernel=8, pos_conv_groups=2,
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ddp_step(rank, world_size, port, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.manual_seed(0)  # same initial weights on both ranks
    encoder = CAREEncoder(**SIZES)
    model = torch.nn.parallel.DistributedDataParallel(encoder, find_unused_parameters=False)
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=1e-3)
    torch.manual_seed(1 + rank)  # different data on each rank
    wavs = torch.randn(2, 4000)
    lens = torch.tensor([1.0, 0.7])
    for _ in range(2):
        out = model(wavs, lens, output_hidden_states=False)
        loss = out.semantic.pow(2).mean() + out.acoustic.pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.save(encoder.state_dict(), os.path.join(result_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_ddp_ranks_agree(tmp_path):
    mp.spawn(ddp_step, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    first = torch.load(tmp_path / "rank0.pt")
    second = torch.load(tmp_path / "rank1.pt")
    torch.manual_seed(0)
    initial = CAREEncoder(**SIZES).state_dict()  # the ranks' starting point
    for name, value in first.items():
        torch.testing.assert_close(value, second[name], msg=lambda m: f"ranks differ on {name}")
    changed = {n for n in first if not torch.equal(first[n], initial[n])}
    assert "acoustic_head.weight" in changed and "shared_layers.0.attention.qkv.weight" in changed
    frozen = {n for n in first if n.startswith("semantic_layers.0.layer.")}
    assert frozen and not frozen & changed, "frozen semantic layers moved"
