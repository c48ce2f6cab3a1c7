"""The command line: clear errors for bad names, a training run that prints and checkpoints."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from course_lib.training import load_checkpoint

from .conftest import REPO, needs_mnist


def _cli(*args, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "course_lib", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_unknown_dataset_and_head_are_clear_errors(fake_root):
    res = _cli("train", "--dataset", "svhn", "--data-root", str(fake_root))
    assert res.returncode == 2 and "unknown dataset 'svhn'" in res.stderr and "cifar100" in res.stderr
    res = _cli("train", "--dataset", "mnist", "--head", "mlp", "--data-root", str(fake_root))
    assert res.returncode == 2 and "unknown head 'mlp'" in res.stderr and "conv1x1_gap" in res.stderr
    assert "Traceback" not in res.stderr


def test_train_prints_config_progress_accuracy_and_writes_checkpoint(fake_root, tmp_path):
    ckpt = tmp_path / "run.pt"
    res = _cli("train", "--dataset", "mnist", "--head", "conv1x1_gap", "--epochs", "2",
               "--batch-size", "32", "--data-root", str(fake_root), "--checkpoint", str(ckpt),
               env_extra={"COURSE_FAST": "0"})
    assert res.returncode == 0, res.stderr
    assert "head             = 'conv1x1_gap'" in res.stdout and "lr               = 0.1" in res.stdout
    assert re.search(r"epoch 2/2: train loss [\d.]+, test acc [\d.]+%", res.stdout)
    assert "epoch 1/2" in res.stderr  # tqdm's progress bar
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2 and state["config"]["head"] == "conv1x1_gap"


def test_data_list_and_offline_cifar_error(fake_root, tmp_path):
    res = _cli("data", "list", "--root", str(fake_root))
    assert res.returncode == 0 and re.search(r"cifar100\s+\(3, 32, 32\)\s+100 classes\s+ready", res.stdout)
    res = _cli("data", "fetch", "cifar10", "--root", str(tmp_path / "empty"), "--offline")
    assert res.returncode == 2 and "cifar-10-python.tar.gz" in res.stderr


def test_project_new_never_overwrites_and_check_reports_what_is_missing(fake_root, tmp_path):
    mine = tmp_path / "mine"
    res = _cli("project", "new", str(mine))
    assert res.returncode == 0 and "wrote README.md, data.py, model.py, utils.py, train.py" in res.stdout
    assert f"project check {mine}" in res.stdout
    res = _cli("project", "new", str(mine))
    assert res.returncode == 2 and "already has README.md" in res.stderr and "never overwrites" in res.stderr
    assert "Traceback" not in res.stderr
    res = _cli("project", "check", str(mine), "--dataset", "mnist", "--root", str(fake_root))
    assert res.returncode == 1, res.stderr
    assert "  TODO  data.py: normalize is not written yet (TODO:" in res.stdout and "0 of 15 checks pass" in res.stdout
    res = _cli("project", "check", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "is not a folder" in res.stderr
    assert "project new|check" in _cli("--help").stdout


@needs_mnist
@pytest.mark.slow
def test_one_epoch_conv1x1_gap_reaches_98_percent_on_real_mnist():
    res = _cli("train", "--dataset", "mnist", "--head", "conv1x1_gap", "--epochs", "1",
               env_extra={"COURSE_FAST": "0"}, timeout=900)
    assert res.returncode == 0, res.stderr
    accuracy = float(re.search(r"epoch 1/1: .* test acc ([\d.]+)%", res.stdout).group(1))
    assert accuracy >= 98.0, res.stdout
