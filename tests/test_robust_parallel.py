"""Robustness of data-parallel runs (gloo on CPU): nothing waits forever, every failure is one readable line,
and every rank tells the truth about what is on disk (the probes of issue 14)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch.distributed as dist

from course_lib.training import distributed, load_checkpoint

from .conftest import REPO, write_fake_dataset

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo"),
]

TIMEOUT = 5  # seconds: the documented setting (COURSE_DDP_TIMEOUT / --timeout), kept short here
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_FAST": "0", "COURSE_DDP_TIMEOUT": str(TIMEOUT),
       "PYTHONPATH": str(REPO)}
for name in ("COURSE_DDP_CRASH_RANK", "COURSE_DDP_CRASH_EPOCH", "PET_RDZV_CONF", *distributed.ENV_VARS):
    ENV.pop(name, None)
TRAIN = ["--dataset", "mnist", "--batch-size", "16", "--bf16", "false"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fake_data")
    write_fake_dataset(path, "mnist", n_train=256, n_test=128)
    return path


def error_lines(text: str) -> list[str]:
    """The `error: ...` lines; and no traceback or C++ frames anywhere."""
    assert "Traceback" not in text and "frame #" not in text, text
    return [line for line in text.splitlines() if line.startswith("error: ")]


def start_world(root: Path, ckpt: Path, crash_rank: int, crash_epoch: int, epochs: int = 3) -> list:
    """Two gloo processes started by hand (no torchrun to stop the survivor); rank `crash_rank` is SIGKILLed
    at the start of `crash_epoch` (-1: never)."""
    port = distributed.free_port()
    procs = []
    for rank in range(2):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "COURSE_DDP_CRASH_RANK": str(crash_rank),
               "COURSE_DDP_CRASH_EPOCH": str(crash_epoch)}
        args = [*TRAIN, "--epochs", str(epochs), "--data-root", str(root), "--checkpoint", str(ckpt)]
        procs.append(subprocess.Popen([sys.executable, "-m", "course_lib.parallel", *args], cwd=REPO, env=env,
                                      text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs


def hand_made_world(root: Path, ckpt: Path, crash_rank: int, crash_epoch: int) -> list[tuple[int, str, float]]:
    """`start_world`, waited for: (exit status, stderr, seconds) per rank."""
    start = time.perf_counter()
    procs = start_world(root, ckpt, crash_rank, crash_epoch)
    results = []
    for proc in procs:
        try:
            err = proc.communicate(timeout=120)[1]
        finally:
            proc.kill()
        results.append((proc.returncode, err, time.perf_counter() - start))
    return results


def test_a_two_node_run_whose_second_node_never_comes_ends_within_the_timeout(root):
    """`--nnodes 2`, node 0 only, no rendezvous flags: the course's launcher gives up after COURSE_DDP_TIMEOUT."""
    cmd = [sys.executable, "-m", "course_lib.launch", "--nnodes=2", "--node_rank=0", "--nproc_per_node=1",
           "--master_addr=127.0.0.1", f"--master_port={distributed.free_port()}", "-m", "course_lib.parallel",
           *TRAIN, "--epochs", "3", "--data-root", str(root)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 2 and seconds < TIMEOUT + 30, (seconds, proc.stderr)
    [line] = error_lines(proc.stdout + proc.stderr)
    assert "did not all meet" in line and "1/2 clients joined" in line  # what happened, in torch's words
    assert "start the same command on every node" in line and f"COURSE_DDP_TIMEOUT (now {TIMEOUT} s)" in line


def test_a_dead_peer_in_a_gloo_world_is_one_line_within_the_timeout(root, tmp_path):
    """Rank 1 is killed at the start of epoch 2; rank 0, alone, gives up and says what is on disk."""
    ckpt = tmp_path / "run.pt"
    (code0, err0, seconds0), (code1, err1, _) = hand_made_world(root, ckpt, crash_rank=1, crash_epoch=2)
    assert code1 == -9 and "simulating a crash" in err1
    assert code0 == 2 and seconds0 < TIMEOUT + 60, (code0, seconds0, err0)
    [line] = error_lines(err0)
    assert line.startswith("error: [rank 0] lost the other processes during epoch 2")
    assert f"Rank 0 confirmed {ckpt} holds 1 finished epoch(s)" in line
    assert load_checkpoint(ckpt)["epoch"] == 1  # and so it does


def test_a_survivor_does_not_claim_a_checkpoint_that_rank_0_never_wrote(root, tmp_path):
    """Rank 0 is killed before its first checkpoint: rank 1 must not say the file holds a finished epoch."""
    ckpt = tmp_path / "run.pt"
    (code0, err0, _), (code1, err1, seconds1) = hand_made_world(root, ckpt, crash_rank=0, crash_epoch=1)
    assert code0 == -9 and "simulating a crash" in err0
    assert code1 == 2 and seconds1 < TIMEOUT + 60, (code1, seconds1, err1)
    [line] = error_lines(err1)
    assert line.startswith("error: [rank 1] lost the other processes during epoch 1")
    assert f"Rank 0 confirmed no checkpoint in {ckpt} for this run" in line and "holds" not in line
    assert not ckpt.exists()


def test_a_crashed_worker_under_the_launcher_is_one_summary_line(root, tmp_path):
    args = [*TRAIN, "--epochs", "3", "--data-root", root, "--checkpoint", tmp_path / "run.pt"]
    crash = {"COURSE_DDP_CRASH_RANK": "1", "COURSE_DDP_CRASH_EPOCH": "2"}
    proc = subprocess.run(distributed.launch_command(2, args), cwd=REPO, env={**ENV, **crash},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = error_lines(proc.stdout + proc.stderr)
    assert lines[-1].startswith("error: worker rank 1 failed first (signal SIGKILL;")
    assert load_checkpoint(tmp_path / "run.pt")["epoch"] == 1


def test_a_stalled_peer_is_given_up_on_after_the_timeout(root, tmp_path):
    """Rank 1 stops (SIGSTOP: alive, silent) after the first checkpoint; rank 0 waits in a collective for the
    timeout, then says so in one line."""
    ckpt = tmp_path / "run.pt"
    procs = start_world(root, ckpt, crash_rank=-1, crash_epoch=1, epochs=200)
    try:
        deadline = time.perf_counter() + 90
        while not ckpt.exists() and time.perf_counter() < deadline and procs[0].poll() is None:
            time.sleep(0.05)
        assert ckpt.exists(), procs[0].communicate(timeout=30)[1]
        procs[1].send_signal(signal.SIGSTOP)
        stopped = time.perf_counter()
        err0 = procs[0].communicate(timeout=TIMEOUT + 60)[1]
        waited = time.perf_counter() - stopped
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    assert procs[0].returncode == 2 and TIMEOUT - 1 < waited < TIMEOUT + 30, (waited, err0)
    [line] = error_lines(err0)
    assert line.startswith("error: [rank 0] lost the other processes during epoch ")
    assert f"stalled longer than --timeout {TIMEOUT} s" in line and "finished epoch(s)" in line
    saved = load_checkpoint(ckpt)["epoch"]
    assert f"holds {saved} finished epoch(s)" in line  # what it says is what is there


@pytest.mark.parametrize("message", ["Application timeout caused pair closure",  # DDP's buffer broadcast (gloo)
                                     "[../third_party/gloo/...] Timed out waiting 5000ms for recv operation",
                                     "Connection closed by peer [127.0.0.1]:29500"])
def test_a_lost_peer_is_recognised_wherever_the_process_waited(message):
    assert distributed._is_communication_error(RuntimeError(message))
    assert not distributed._is_communication_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
