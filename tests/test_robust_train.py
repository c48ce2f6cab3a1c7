"""Robustness of training runs: resuming refuses a changed run, checkpoints that are not what they claim
are refused with one line, and nothing on disk is lost (the probes of issue 14)."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from course_lib import files, training
from course_lib.config import RESUME_MAY_CHANGE, TrainConfig
from course_lib.training import checkpoint

from .conftest import REPO, one_error_line, write_fake_dataset

ENV = {**os.environ, "COURSE_FAST": "0", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}

# `python -m course_lib ARGS`, SIGKILLed right after epoch N's checkpoint is written (an interrupted run).
_STOP_AFTER = textwrap.dedent("""
    import os, signal, sys
    from course_lib.training import loop
    n, real = int(sys.argv.pop(1)), loop.save_checkpoint
    def save_then_die(path, state):
        real(path, state)
        if state["epoch"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    loop.save_checkpoint = save_then_die
    from course_lib.__main__ import main
    sys.exit(main())
""")


def cli(*args, stop_after: int = 0, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m course_lib ARGS` (killed after epoch `stop_after` when given)."""
    head = ["-c", _STOP_AFTER, str(stop_after)] if stop_after else ["-m", "course_lib"]
    return subprocess.run([sys.executable, *head, *map(str, args)], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout)



# ----------------------------------------------------------------------------- resume: the probe


def test_resuming_with_another_train_size_is_refused_and_the_checkpoint_kept(fake_root, tmp_path):
    """The probe: --train-size 128 for 4 epochs, stopped after 2, rerun with --train-size 256."""
    ckpt = tmp_path / "c.pt"
    run = ["train", "--dataset", "mnist", "--epochs", "4", "--batch-size", "32", "--data-root", fake_root,
           "--checkpoint", ckpt]
    stopped = cli(*run, "--train-size", "128", stop_after=2)
    assert stopped.returncode == -9, stopped.stderr
    before = ckpt.read_bytes()
    assert checkpoint.load_checkpoint(ckpt)["epoch"] == 2

    line = one_error_line(cli(*run, "--train-size", "256"))
    assert "train_size=128, this run has train_size=256" in line and str(ckpt) in line
    assert "same flags" in line and "another --checkpoint path" in line  # the remedy
    assert ckpt.read_bytes() == before  # nothing trained, nothing overwritten

    resumed = cli(*run, "--train-size", "128")  # the same flags: resumes where it stopped
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "2 of 4 epochs done" in resumed.stdout
    assert checkpoint.load_checkpoint(ckpt)["history"]["epoch"] == [1, 2, 3, 4]


CHANGES = {"dataset": "fashion_mnist", "head": "flatten_fc", "backbone": "cifar_net", "epochs": 5,
           "batch_size": 64, "lr": 0.2, "momentum": 0.5, "weight_decay": 0.0, "label_smoothing": 0.1,
           "schedule": "constant", "cooldown": 0.25, "augment": True, "clean_epochs": 1, "in_memory": False,
           "train_size": 100, "seed": 3}


def _state(config: TrainConfig, epoch: int = 1) -> dict:
    return {"format": training.CHECKPOINT_FORMAT, "epoch": epoch, "model": {}, "optimizer": {}, "scheduler": {},
            "history": {"epoch": list(range(1, epoch + 1))}, "config": vars(config).copy()}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_every_field_that_shapes_the_run_is_refused_on_resume(field):
    saved = TrainConfig(epochs=4)
    with pytest.raises(checkpoint.CheckpointError, match=f"{field}=.*, this run has {field}="):
        training.check_checkpoint(_state(saved), "c.pt", saved.replace(**{field: CHANGES[field]}))


def test_only_where_and_how_precisely_may_change_on_resume():
    assert set(CHANGES) | set(RESUME_MAY_CHANGE) == set(vars(TrainConfig()))  # every field is one or the other
    saved = TrainConfig(epochs=4)
    training.check_checkpoint(_state(saved), "c.pt", saved.replace(
        device="cpu", checkpoint="elsewhere.pt", data_root="/data", bf16=True, channels_last=True))


def test_several_changes_are_named_in_one_line():
    saved = TrainConfig(epochs=4)
    with pytest.raises(checkpoint.CheckpointError) as info:
        training.check_checkpoint(_state(saved), "c.pt", saved.replace(lr=0.2, train_size=100))
    assert "lr=0.05, this run has lr=0.2; train_size=0, this run has train_size=100" in str(info.value)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- inconsistent checkpoints


def _edited(**changes) -> dict:
    state = _state(TrainConfig(epochs=4), epoch=2)
    for key, value in changes.items():
        if value is KeyError:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize("changes, message", [
    ({"epoch": -1}, "says -1 of 4 epochs are done"),
    ({"epoch": 7}, "says 7 of 4 epochs are done"),
    ({"epoch": "2"}, "'epoch' is a str, not an int"),
    ({"epoch": True}, "'epoch' is a bool"),
    ({"model": KeyError}, "lacks its 'model' entry"),
    ({"config": KeyError}, "lacks its 'config' entry"),
    ({"config": [1, 2]}, "'config' is a list, not a dict"),
    ({"history": {"epoch": [1]}}, "history does not match its 2 finished epochs"),
    ({"format": "something/else"}, "not a course_lib checkpoint"),
    ({"world_size": "2"}, "world_size is not a process count"),
    ({"world_size": 0}, "world_size is not a process count"),
    ({"config": {**vars(TrainConfig(epochs=4)), "lr": "fast"}}, "config is invalid .* lr has the wrong type"),
    ({"config": {**vars(TrainConfig(epochs=4)), "lr": float("nan")}}, "config is invalid .* lr out of range"),
])
def test_a_hand_edited_checkpoint_is_refused(changes, message):
    with pytest.raises(checkpoint.CheckpointError, match=message):
        training.check_checkpoint(_edited(**changes), "c.pt", TrainConfig(epochs=4))


# ----------------------------------------------------------------------------- checkpoint files


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, a checkpoint of a finished 1-epoch run on it)."""
    root = tmp_path_factory.mktemp("data")
    write_fake_dataset(root, "mnist", n_train=128, n_test=64)
    ckpt = root / "done.pt"
    proc = cli("train", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32", "--data-root", root,
               "--checkpoint", ckpt)
    assert proc.returncode == 0, proc.stderr
    return root, ckpt


def _write_bad(path: Path, kind: str, good: Path) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "tensor":
        torch.save(torch.ones(3), path)
    else:
        state = torch.load(good, weights_only=True)
        if kind == "no config":
            del state["config"]
        else:  # a state dict with missing keys
            state["model"].pop(next(iter(state["model"])))
        torch.save(state, path)


@pytest.mark.parametrize("kind, message", [
    ("empty", "the checkpoint file is empty"),
    ("list", "the file holds a list, not a dict"),
    ("tensor", "the file holds a Tensor, not a dict"),
    ("no config", "the checkpoint lacks its 'config' entry"),
    ("missing keys", "the checkpoint does not fit this model and optimizer .*Missing key"),
])
def test_a_bad_checkpoint_is_one_line_and_stays_untouched(finished, tmp_path, kind, message):
    root, good = finished
    ckpt = tmp_path / "bad.pt"
    _write_bad(ckpt, kind, good)
    before = ckpt.read_bytes()
    proc = cli("train", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32", "--data-root", root,
               "--checkpoint", ckpt)
    line = one_error_line(proc)
    assert re.search(message, line) and str(ckpt) in line, line
    assert "move it away" in line  # the remedy
    assert "epoch 1/1" not in proc.stdout and ckpt.read_bytes() == before


@pytest.mark.parametrize("where", ["a folder", "inside a file"])
def test_an_unwritable_checkpoint_path_is_found_before_the_first_epoch(finished, tmp_path, where):
    root, _ = finished
    (tmp_path / "plain_file").write_text("not a folder")
    ckpt = tmp_path if where == "a folder" else tmp_path / "plain_file" / "run.pt"
    proc = cli("train", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32", "--data-root", root,
               "--checkpoint", ckpt)
    line = one_error_line(proc)
    assert ("is a folder" in line) if where == "a folder" else ("cannot write a checkpoint in" in line)
    assert "epoch 1/1" not in proc.stdout  # no epoch was spent
    assert (tmp_path / "plain_file").read_text() == "not a folder"


_KILLED_WHILE_WRITING = textwrap.dedent("""
    import os, signal, sys, torch
    from course_lib.training import save_checkpoint
    os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # killed between write and rename
    save_checkpoint(sys.argv[1], {"epoch": 2, "w": torch.zeros(3)})
""")


def test_a_write_killed_midway_keeps_the_old_file_and_the_next_write_cleans_up(tmp_path):
    path = tmp_path / "run.pt"
    checkpoint.save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    killed = subprocess.run([sys.executable, "-c", _KILLED_WHILE_WRITING, str(path)], cwd=REPO, env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9
    strays = [p for p in tmp_path.iterdir() if p.name != "run.pt"]
    assert len(strays) == 1 and strays[0].stat().st_size > 0  # the killed writer's temporary
    assert checkpoint.load_checkpoint(path)["epoch"] == 1  # the old checkpoint is intact
    alive = tmp_path / f".run.pt.tmp-{files._HOST}-{os.getpid()}-abc.tmp"  # a live writer's: kept
    alive.write_bytes(b"still being written")
    checkpoint.save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.pt", alive.name])
    assert checkpoint.load_checkpoint(path)["epoch"] == 2


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        checkpoint.save_checkpoint(tmp_path / "run.pt", {"epoch": 1})
        files.atomic_write_bytes(tmp_path / "data.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run.pt").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "data.bin").stat().st_mode) == mode


def test_a_second_run_on_the_same_checkpoint_is_refused_while_the_first_runs(finished, tmp_path):
    root, good = finished
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(good.read_bytes())
    before = ckpt.read_bytes()
    held = FileLock(f"{ckpt}.lock")  # what a running `course_lib train --checkpoint run.pt` holds
    with held:
        proc = cli("train", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32", "--data-root", root,
                   "--checkpoint", ckpt)
        line = one_error_line(proc)
        assert line.startswith(f"error: another run is using this checkpoint ({ckpt};") and "wait for it" in line
        assert ckpt.read_bytes() == before  # the running one's file, untouched
    proc = cli("train", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32", "--data-root", root,
               "--checkpoint", ckpt)  # the lock is free again: the run resumes (and finds nothing left to do)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout and "nothing to train: all 1 epochs are done" in proc.stdout
    # no temporary left behind; the empty lock file stays (removing it is a race with the next run's flock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt", "run.pt.lock"]
    assert (tmp_path / "run.pt.lock").stat().st_size == 0
