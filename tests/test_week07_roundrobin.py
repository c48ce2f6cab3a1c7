"""Week 7: "one batch to one device, the next batch to another", run by 2 gloo processes (torchrun).

Alone, the replicas drift apart; with gradients all-reduced by hand they stay bit-identical and equal
one process trained on the concatenated batches; DDP gives the same weights as the all-reduce by hand.
"""
from __future__ import annotations

import os
import subprocess

import pytest
import torch
import torch.distributed as dist

from course_lib import parallel
from course_lib.explore import timeline_viz
from course_lib.training import distributed, distributed_roundrobin, load_checkpoint

from .conftest import REPO, write_fake_dataset

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo"),
]

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_FAST": "0"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One roundrobin run: 2 processes x 16 images, 6 steps per phase, on small fake MNIST."""
    root = tmp_path_factory.mktemp("fake_data")
    write_fake_dataset(root, "mnist", n_train=256, n_test=32)
    out = root / "rr.pt"
    cmd = distributed.launch_command(2, ["roundrobin", "--dataset", "mnist", "--data-root", root, "--batch-size", 16,
                                      "--steps", 6, "--lr", 0.1, "--out", out, "--timeout", 60])
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def test_replicas_drift_apart_alone_and_stay_identical_with_the_all_reduce(run):
    out, proc = run
    summary = distributed_roundrobin.summary(out)
    record = summary["record"]
    assert record["world_size"] == 2 and record["steps"] == 6 and len(record["indices"]) == 2 * 16 * 6
    alone = record["phases"]["alone"]
    assert all(d > 1e-4 for d in summary["drift_alone"])  # different batches, no communication: apart
    assert not torch.equal(alone["final"][0], alone["final"][1])
    assert summary["drift_allreduce"] == [0.0] * 6 and summary["drift_ddp"] == [0.0] * 6  # bit-identical
    manual = record["phases"]["allreduce"]["final"]
    assert torch.equal(manual[0], manual[1])
    # the all-reduce by hand == one process on the 2 batches concatenated, after every step
    assert summary["allreduce_vs_single"] < 1e-5 and summary["moved"] > 1e-3
    # DDP == the all-reduce by hand (same initial weights, same batches)
    assert torch.allclose(record["phases"]["ddp"]["final"], manual, rtol=1e-5, atol=1e-6)
    assert summary["ddp_vs_allreduce"] < 1e-6
    # the replica that trained alone is not the one-process model: it only saw half of the images
    assert summary["alone_vs_single"] > 1e-4
    assert "distance between replicas alone" in proc.stdout


def test_the_timeline_records_every_rank_and_phase(run):
    out, _ = run
    events = load_checkpoint(out)["timeline"]  # (rank, phase, step, what, start, end)
    for rank in (0, 1):
        for phase in distributed_roundrobin.PHASES:
            mine = [e for e in events if e[0] == rank and e[1] == phase]
            kinds = {e[3] for e in mine}
            expected = {"forward", "backward", "step"} | ({"all-reduce"} if phase == "allreduce" else set())
            assert kinds == expected, (rank, phase, kinds)
            assert sorted({e[2] for e in mine}) == list(range(6))
            assert all(0 <= e[4] <= e[5] for e in mine)
            starts = [e[4] for e in mine]
            assert starts == sorted(starts)  # one rank does one thing at a time, in order
    fig = timeline_viz.timeline_figure(events)
    assert len(fig.axes) == 3 and fig.legends


def test_round_robin_gives_batch_i_to_rank_i_mod_n():
    X = torch.arange(2 * 3 * 4).reshape(-1, 1).float()  # 24 images of batch 4: batch i = rows 4i..4i+3
    y = torch.arange(24)
    for step in range(3):
        for rank in range(2):
            Xb, yb = distributed_roundrobin.rank_batch(X, y, step, rank, 2, 4)
            i = step * 2 + rank
            assert yb.tolist() == list(range(4 * i, 4 * i + 4))


def test_replicas_in_one_process_drift_alone_and_match_one_model_when_gradients_are_averaged():
    from course_lib.exercises.week07 import average_gradients

    alone = distributed_roundrobin.simulate_replicas(n=3, steps=4, sync=None)
    assert min(alone["distance"]) > 1e-3 and alone["vs_single"] > 1e-3
    synced = distributed_roundrobin.simulate_replicas(n=3, steps=4, sync=average_gradients)
    assert synced["distance"] == [0.0] * 4
    # the reference, written out: one model, the 3 batches of each step concatenated
    single = distributed_roundrobin.tiny_replicas(1)[0]
    opt = torch.optim.SGD(single.parameters(), lr=0.5)
    gen = torch.Generator().manual_seed(1)
    X, y = torch.randn(4 * 3 * 8, 4, 4, generator=gen), torch.randint(0, 3, (4 * 3 * 8,), generator=gen)
    for step in range(4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(single(X[step * 24:(step + 1) * 24]), y[step * 24:(step + 1) * 24]).backward()
        opt.step()
    for p, q in zip(synced["replicas"][0].parameters(), single.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_the_command_line_knows_roundrobin_and_keeps_the_other_commands():
    command, args = parallel.parse(["roundrobin", "--out", "x.pt", "--steps", "3"])
    assert command == "roundrobin" and args.steps == 3 and args.batch_size == 32 and args.norm == "none"
    assert parallel.parse(["grads", "--out", "g.pt"])[0] == "grads"
    assert parallel.parse(["bench"])[0] == "bench"
    command, args = parallel.parse(["--dataset", "mnist", "--epochs", "2"])
    assert command == "train" and args.epochs == 2
