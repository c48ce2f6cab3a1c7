"""What a newcomer meets: `make data` without the optional data sets, and `make lab` serving the course.

Both run the real Makefile targets (the venv already exists, so they only do their own work).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

from course_lib.paths import data_root

from .conftest import REPO, needs_mnist


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_mnist
def test_make_data_without_any_fashion_mnist_source_exits_0_with_one_clear_line(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root() / "MNIST", root / "MNIST")  # MNIST present, nothing else
    env = {**os.environ, "COURSE_DATA": str(root), "COURSE_OFFLINE": "1",
           "COURSE_FASHION_MNIST_DIR": str(tmp_path / "no-debian-copy")}
    done = subprocess.run(["make", "--no-print-directory", "data"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    notes = [line for line in done.stdout.splitlines() if line.startswith("note: fashion_mnist")]
    assert len(notes) == 1, done.stdout
    assert "optional" in notes[0] and "make data" in notes[0] and "COURSE_FASHION_MNIST_DIR" in notes[0]
    assert "mnist: already provisioned and verified" in done.stdout
    assert "Error" not in done.stderr and "Traceback" not in done.stderr
    assert not (root / "FashionMNIST").exists()


def test_data_fetch_optional_is_a_note_and_required_is_an_error(tmp_path):
    env = {**os.environ, "COURSE_FASHION_MNIST_DIR": str(tmp_path / "none")}
    args = [str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else "python3",
            "-m", "course_lib", "data", "fetch", "fashion_mnist", "--root", str(tmp_path / "d"), "--offline"]
    optional = subprocess.run([*args, "--optional"], cwd=REPO, env=env, capture_output=True, text=True)
    required = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    assert optional.returncode == 0 and optional.stdout.startswith("note: fashion_mnist: not provisioned")
    assert required.returncode == 2 and required.stderr.startswith("error: fashion_mnist: not provisioned")
    assert "Traceback" not in optional.stderr + required.stderr


def test_make_lab_serves_the_course_and_opens_on_the_landing_page():
    """`make lab` as the current user answers on /lab (as root, as on CI, JupyterLab refuses to start
    unless the launcher passes --allow-root, so this also proves that)."""
    port = _free_port()
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS=--no-browser --port={port}"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        banner = None
        while time.monotonic() < deadline and banner is None:
            line = proc.stdout.readline()
            if not line:
                break  # the server exited
            lines.append(line)
            banner = re.search(rf"^\s+(http://\S+:{port}/lab/tree/(\S+)\?token=(\w+))$", line)
        assert banner, "no address printed; last lines:\n" + "".join(lines[-15:])
        url, landing, token = banner.groups()
        assert (REPO / landing).is_file(), landing
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=30) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/{landing}?token={token}",
                                    timeout=30) as nb:
            assert nb.status == 200  # the landing notebook is served from the course folder
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
