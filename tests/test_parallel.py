"""Data-parallel training: torchrun with 2 gloo processes on CPU, on small fake MNIST.

Every subprocess has a wall-clock limit; the processes themselves get `--timeout` seconds for
the rendezvous and each collective, so a missing or dead process is an error, never a hang.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from course_lib import data
from course_lib.errors import DataError
from course_lib.models import build_model
from course_lib.training import distributed, distributed_checks, load_checkpoint

from .conftest import REPO, write_fake_dataset

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo"),
]

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_FAST": "0"}  # the tests pick their own sizes
ENV.pop("COURSE_DDP_CRASH_RANK", None)
TRAIN = ["--dataset", "mnist", "--epochs", "3", "--batch-size", "16", "--lr", "0.1", "--augment", "true",
         "--bf16", "false", "--timeout", "30"]  # pinned: the tuned recipe may change


def torchrun(nproc: int, *args, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """2 CPU processes via `python -m torch.distributed.run --standalone` (free port), with a time limit."""
    return subprocess.run(distributed.launch_command(nproc, args), cwd=REPO, env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fake_data")
    write_fake_dataset(path, "mnist", n_train=256, n_test=128)
    return path


@pytest.fixture(scope="module")
def straight_run(root, tmp_path_factory):
    """3 epochs on 2 processes, uninterrupted: checkpoint and every rank's final parameters."""
    out = tmp_path_factory.mktemp("straight")
    proc = torchrun(2, *TRAIN, "--data-root", root, "--checkpoint", out / "run.pt",
                    "--params-out", out / "params.pt")
    assert proc.returncode == 0, output(proc)
    return out, proc


# ----------------------------------------------------------------------------- sharding (in-process)


def test_shards_follow_distributed_sampler_and_tile_the_big_batch(root):
    for n, world in ((10, 3), (7, 2), (8, 4)):  # padding rule: repeat the start up to a multiple of N
        for rank in range(world):
            expected = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
            assert distributed.shard_indices(n, rank, world, shuffle=False).tolist() == expected
    e0 = [distributed.shard_indices(256, r, 2, seed=3, epoch=0) for r in range(2)]
    e1 = [distributed.shard_indices(256, r, 2, seed=3, epoch=1) for r in range(2)]
    assert sorted(torch.cat(e0).tolist()) == list(range(256))  # every image once per epoch
    assert not torch.equal(e0[0], e1[0])  # set_epoch reshuffles

    images, labels = data.load_tensors("mnist", True, root)
    spec = data.get_spec("mnist")
    big = data.InMemoryLoader(images, labels, spec, batch_size=32, shuffle=True, seed=3)
    shards = [distributed.ShardedLoader(data.InMemoryLoader(images, labels, spec, 16, shuffle=True, seed=3), r, 2)
              for r in range(2)]
    for loader in (big, *shards):
        loader.set_epoch(1)
    assert len(shards[0]) == len(shards[1]) == len(big) == 8
    for (X, y), (X0, y0), (X1, y1) in zip(big, *shards):
        # rank r's batch i is exactly positions r, r+2, ... of the one-process batch i of 2x the size
        assert torch.equal(X[0::2], X0) and torch.equal(X[1::2], X1)
        assert torch.equal(y[0::2], y0) and torch.equal(y[1::2], y1)


def test_a_shard_augments_exactly_when_its_base_loader_does(root):
    images, labels = data.load_tensors("mnist", True, root)
    base = data.InMemoryLoader(images, labels, data.get_spec("mnist"), 16, shuffle=True, seed=3, augment=True)
    shard = distributed.ShardedLoader(base, 0, 2)
    augmented = next(iter(shard))[0]
    shard.augment = False  # what fit's clean epochs do
    assert base.augment is False
    plain = next(iter(shard))[0]
    assert torch.equal(plain, data.normalize(images[distributed.shard_indices(len(labels), 0, 2, 3, 0)[:16]],
                                             base.spec))
    assert not torch.equal(plain, augmented)


def test_fewer_images_than_processes_is_refused():
    with pytest.raises(DataError, match="fewer processes"):
        distributed.shard_indices(3, 0, 4)


# ----------------------------------------------------------------------------- the all-reduce


def test_ddp_gradient_equals_one_process_with_the_whole_batch(root, tmp_path):
    out = tmp_path / "grads.pt"
    proc = torchrun(2, "grads", "--dataset", "mnist", "--data-root", root, "--batch-size", "16",
                    "--lr", "0.1", "--out", out, "--timeout", "30")
    assert proc.returncode == 0, output(proc)
    record = load_checkpoint(out)
    assert record["world_size"] == 2 and len(record["indices"]) == 32
    for norm in ("none", "groupnorm", "batchnorm"):
        r = record["norms"][norm]
        grad, after = distributed_checks.single_process_step(record, norm)  # 1 process, all 32 images
        assert (r["local"][0] - r["local"][1]).abs().max() > 1e-3, "the ranks must see different images"
        assert torch.allclose(r["ddp"], r["local"].mean(0).expand_as(r["ddp"]), atol=1e-7)  # all-reduce = mean
        assert torch.equal(r["ddp"][0], r["ddp"][1]) and torch.equal(r["after"][0], r["after"][1])
        if norm == "batchnorm":  # per-process batch statistics: a different function of the data
            assert (r["ddp"][0] - grad).abs().max() > 1e-4
        else:
            atol = 1e-6 if norm == "none" else 1e-5  # GroupNorm: more float32 rounding, still << 1e-4
            assert torch.allclose(r["ddp"][0], grad, rtol=1e-4, atol=atol), norm
            assert torch.allclose(r["after"][0], after, rtol=1e-5, atol=1e-6), norm
            assert not torch.allclose(r["before"], after)  # the step moved the weights
    rows = distributed_checks.compare(out)
    assert [row["norm"] for row in rows] == ["none", "batchnorm", "groupnorm"]
    assert "ranks identical" in distributed_checks.compare_table(rows)


# ----------------------------------------------------------------------------- training


def test_all_ranks_hold_identical_parameters_after_training(straight_run):
    out, proc = straight_run
    params = load_checkpoint(out / "params.pt")["params"]  # (2, P): one row per rank
    assert params.shape[0] == 2 and torch.equal(params[0], params[1])
    state = load_checkpoint(out / "run.pt")
    assert state["epoch"] == 3 and state["world_size"] == 2 and state["history"]["epoch"] == [1, 2, 3]
    history = state["history"]
    assert history["train_loss"][-1] < history["train_loss"][0]
    model = build_model("mnist", "gap_fc")
    model.load_state_dict(state["model"])  # a plain state dict: no "module." prefix from DDP
    assert torch.equal(torch.nn.utils.parameters_to_vector(model.parameters()), params[0])
    text = output(proc)
    assert "global batch 32" in text and text.count("epoch 3/3") == 1  # rank 0 alone logs


def test_a_crashed_rank_fails_fast_and_the_checkpoint_resumes_exactly(root, straight_run, tmp_path):
    ckpt = tmp_path / "run.pt"
    start = time.perf_counter()
    crashed = torchrun(2, *TRAIN, "--data-root", root, "--checkpoint", ckpt,
                       env={"COURSE_DDP_CRASH_RANK": "1", "COURSE_DDP_CRASH_EPOCH": "2"})
    assert crashed.returncode != 0 and time.perf_counter() - start < 60
    text = output(crashed)
    assert "simulating a crash" in text and "error: worker rank 1 failed first (signal SIGKILL" in text
    state = load_checkpoint(ckpt)  # written by rank 0 atomically: intact, at the last finished epoch
    assert state["epoch"] == 1 and state["history"]["epoch"] == [1]

    resumed = torchrun(2, *TRAIN, "--data-root", root, "--checkpoint", ckpt)
    assert resumed.returncode == 0, output(resumed)
    assert "resumed from" in resumed.stdout and "1 of 3 epochs done" in resumed.stdout
    final = load_checkpoint(ckpt)
    reference = load_checkpoint(straight_run[0] / "run.pt")
    assert final["history"]["epoch"] == [1, 2, 3]
    for name, tensor in reference["model"].items():  # bit for bit the uninterrupted run
        assert torch.equal(final["model"][name], tensor), name


def test_more_processes_than_images_is_a_clear_error(root, tmp_path):
    proc = torchrun(2, *TRAIN, "--data-root", root, "--train-size", "1", timeout=60)
    assert proc.returncode != 0
    assert "error: the training set has 1 images but there are 2 processes" in proc.stderr
    assert "fewer processes" in proc.stderr


def test_resuming_with_another_process_count_is_refused(root, straight_run, tmp_path):
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes((straight_run[0] / "run.pt").read_bytes())
    proc = torchrun(1, *TRAIN, "--data-root", root, "--checkpoint", ckpt, timeout=60)
    assert proc.returncode != 0 and "--nproc_per_node=2" in proc.stderr


# ----------------------------------------------------------------------------- rendezvous


def test_without_torchrun_the_error_says_how_to_launch():
    proc = subprocess.run([sys.executable, "-m", "course_lib.parallel", "--dataset", "mnist"], cwd=REPO,
                          env={k: v for k, v in ENV.items() if k not in distributed.ENV_VARS},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "RANK" in proc.stderr and "torchrun --standalone --nproc_per_node=2 -m course_lib.parallel" in proc.stderr


def test_a_missing_process_or_wrong_port_times_out_with_a_clear_error(root):
    """Rank 0 of 2 alone (nobody joins), and rank 1 pointed at a port nobody listens on."""
    port = distributed.free_port()
    procs = []
    for rank, master_port in ((0, port), (1, distributed.free_port())):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(master_port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "course_lib.parallel", *TRAIN, "--data-root",
                                       str(root), "--timeout", "3"], cwd=REPO, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    start = time.perf_counter()
    errors = []
    for rank, proc in enumerate(procs):
        try:
            errors.append(proc.communicate(timeout=60)[1])
        finally:
            proc.kill()
        assert proc.returncode == 2, errors[-1]
        assert f"error: [rank {rank}] rendezvous failed: the 2 processes did not all meet" in errors[-1]
    assert time.perf_counter() - start < 45
    assert "1/2 clients joined" in errors[0]  # the store on rank 0 waited for the second process
    assert "--master_port" in errors[1]  # the message says what to check


def test_torchrun_gives_up_on_a_node_that_never_comes(root):
    """Multi-node flags, node 0 of 2 only: torchrun's own rendezvous timeout (--rdzv_conf=timeout)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--node_rank=0", "--nproc_per_node=1",
           "--master_addr=127.0.0.1", f"--master_port={distributed.free_port()}", "--rdzv_conf=timeout=4",
           "-m", "course_lib.parallel", *TRAIN, "--data-root", str(root)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and time.perf_counter() - start < 45
    assert "1/2 clients joined" in output(proc)
