"""Build your own classifier: the template is copied without overwriting, a fresh template fails the
checks with messages naming what is missing, typical mistakes get plain-words messages, the reference
solution passes every check (fake MNIST-like and CIFAR-like data, and real MNIST), and its train.py runs."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.lib.pretty import pretty

from course_lib import project
from course_lib.errors import CourseError
from course_lib.project.report import find_stubs

from .conftest import REPO, needs_mnist

ALL = ["mnist", "fashion_mnist", "cifar10", "cifar100"]


def _copy_solution(dest: Path) -> Path:
    shutil.copytree(project.SOLUTION_DIR, dest, ignore=shutil.ignore_patterns("__pycache__", "checkpoints"))
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path.name, old)  # the solution changed: update this typical mistake
    path.write_text(text.replace(old, new, 1))


def _api(path: Path) -> list[str]:
    """Top-level functions and classes, and the classes' methods, with their argument names."""
    out = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            out.append(f"{node.name}({', '.join(a.arg for a in node.args.args)})")
        elif isinstance(node, ast.ClassDef):
            out += [f"{node.name}.{f.name}({', '.join(a.arg for a in f.args.args)})"
                    for f in node.body if isinstance(f, ast.FunctionDef)]
    return out


def test_new_project_copies_the_template_and_never_overwrites(tmp_path):
    target = project.new_project(tmp_path / "mine")
    assert sorted(p.name for p in target.iterdir()) == sorted(project.FILES)
    for name in project.FILES:
        assert (target / name).read_bytes() == (project.TEMPLATE_DIR / name).read_bytes()
    (target / "data.py").write_text("# my work\n")
    with pytest.raises(CourseError, match=r"already has README.md, data.py.*never overwrites"):
        project.new_project(target)
    assert (target / "data.py").read_text() == "# my work\n"
    other = tmp_path / "partial"
    other.mkdir()
    (other / "model.py").write_text("# mine\n")
    with pytest.raises(CourseError, match="already has model.py"):
        project.new_project(other)
    assert sorted(p.name for p in other.iterdir()) == ["model.py"]  # nothing written beside it
    assert project.default_dir() == REPO / "exercises" / "my_classifier"


def test_template_and_solution_have_the_same_api_and_the_template_only_stubs():
    for name in ("data.py", "model.py", "utils.py"):
        assert _api(project.TEMPLATE_DIR / name) == _api(project.SOLUTION_DIR / name), name
        assert find_stubs(project.TEMPLATE_DIR / name), f"template/{name} has nothing left to write"
        assert find_stubs(project.SOLUTION_DIR / name) == [], f"solution/{name} still has stubs"
    assert (project.TEMPLATE_DIR / "train.py").read_text() == (project.SOLUTION_DIR / "train.py").read_text()
    for path in [*project.TEMPLATE_DIR.glob("*.py"), *project.SOLUTION_DIR.glob("*.py")]:
        assert len(path.read_text().splitlines()) < 100, f"{path.name}: keep teaching files short"


def test_fresh_template_fails_the_checks_naming_what_is_missing(tmp_path, fake_root):
    report = project.check_project(project.new_project(tmp_path / "mine"), root=fake_root)
    text = str(report)
    print(text)
    assert not report.passed and report.datasets == ALL
    assert {r["status"] for r in report.results} == {"todo", "wait"}
    lines = text.splitlines()
    assert lines[1] == ("  TODO  data.py: normalize is not written yet "
                        "(TODO: return (images / 255 - mean) / std as float32, per channel)")
    for expected in ("data.py: build_loaders is not written yet (TODO:", "model.py: make_head is not written yet",
                     "model.py: make_backbone is not written yet", "utils.py: train_step is not written yet",
                     "utils.py: evaluate is not written yet", "WAIT  smoke run: 20 train_steps on one batch",
                     ("  data.py: normalize, ImageDataset.__len__, ImageDataset.__getitem__, "
                      "build_dataset, build_loaders"),
                     "  model.py: make_backbone, feature_shape, make_head, Net.forward"):
        assert expected in text, expected
    assert text.index("data.py: normalize") < text.index("model.py: make_head") < text.index("utils.py: get_device")
    assert lines[-1].startswith("0 of 36 checks pass. Next: data.py: normalize is not written yet")
    assert len([line for line in lines if "make_backbone is not written yet" in line]) == 1  # said once
    assert pretty(report) == text  # what a notebook cell ending with check_project(...) shows


def test_typical_mistakes_get_plain_messages(tmp_path, fake_root):
    broken = _copy_solution(tmp_path / "broken")
    _edit(broken / "data.py", "images.float() / 255", "images.float()")
    _edit(broken / "model.py", "nn.Linear(channels * h * w, num_classes)",
          "nn.Linear(channels * h * w, num_classes + 1)")
    _edit(broken / "model.py", "    backbone.eval()  #", "    #")
    _edit(broken / "utils.py", "    optimizer.zero_grad()  # 4.", "    # 4.")
    _edit(broken / "utils.py", "    model.eval()  # BatchNorm uses", "    # BatchNorm uses")
    text = str(project.check_project(broken, datasets=["mnist"], root=fake_root))
    print(text)
    for expected in (
            "FAIL  data.py: normalize(images (4, 1, 28, 28), mean, std) differs from course_lib's data.normalize",
            "FAIL  model.py: Net(1, 10, 28, head='flatten_fc') returns shape (8, 11), expected (8, 10)",
            "FAIL  model.py: make_head('flatten_fc', 12, 7, (3, 4)) turns features (5, 12, 3, 4) into shape (5, 8)",
            "FAIL  model.py: feature_shape changed the BatchNorm running statistics",
            ("FAIL  utils.py: the second train_step's update is wrong: gradients add up across batches unless "
             "optimizer.zero_grad() runs before loss.backward()"),
            "FAIL  utils.py: evaluate left the model in train mode: call model.eval() first",
            "ok    utils.py: accuracy", "ok    utils.py: train_one_epoch", "WAIT  smoke run: one epoch on"):
        assert expected in text, expected

    broken = _copy_solution(tmp_path / "broken2")
    _edit(broken / "data.py", "shuffle=True, generator=shuffler", "shuffle=False")
    _edit(broken / "model.py", "nn.Linear(channels * h * w, num_classes)", "nn.Linear(64 * 3 * 3, num_classes)")
    _edit(broken / "utils.py", "return (predicted == labels).float().mean().item()",
          "return (predicted == labels).float().mean()")
    _edit(broken / "utils.py", "@torch.no_grad()  # no graph", "# no graph")
    _edit(broken / "utils.py", "    optimizer.step()  # 6.", "    # 6.")
    text = str(project.check_project(broken, datasets=["mnist", "cifar10"], root=fake_root))
    print(text)
    for expected in (
            "FAIL  data.py: training batches come in file order: shuffle=True",
            ("FAIL  model.py: Net(3, 10, 32, head='flatten_fc') on images (2, 3, 32, 32) raised RuntimeError: "
             "mat1 and mat2 shapes cannot be multiplied (2x1024 and 576x10) (model.py line"),
            "FAIL  utils.py: accuracy returned Tensor: return a Python float (.item())",
            "FAIL  utils.py: train_step did not change the weights",
            "FAIL  utils.py: evaluate ran with gradients on: use @torch.no_grad()",
            "ok    model.py: make_backbone and feature_shape"):
        assert expected in text, expected
    assert "[cifar10]" in text and "[mnist]" in text  # the hard-coded size fails on CIFAR only

    _edit(broken / "utils.py", "        logits = model(X)\n        total_loss",
          "        logits = model(X)\n        F.cross_entropy(logits, y).backward()\n"
          "        [p.data.sub_(0.1 * p.grad) for p in model.parameters()]\n        total_loss")
    (broken / "model.py").write_text((broken / "model.py").read_text() + "\ndef oops(:\n")
    text = str(project.check_project(broken, datasets=["mnist"], root=fake_root))
    print(text)
    assert "FAIL  utils.py: evaluate changed the weights: it must not call backward/step" in text
    assert "FAIL  model.py: syntax error on line" in text


def test_solution_passes_every_check_on_fake_mnist_and_cifar(fake_root):
    report = project.check_project(project.SOLUTION_DIR, root=fake_root)
    text = str(report)
    print(text)
    assert report.passed, text
    assert report.datasets == ALL and len(report.results) == 7 * len(ALL) + 8
    assert text.splitlines()[-1].startswith("all 36 checks pass")
    assert "smoke run: 20 train_steps on one batch of 32 images at least halve its loss (loss" in text
    assert not (project.SOLUTION_DIR / "checkpoints").exists()


@needs_mnist
@pytest.mark.slow
def test_solution_passes_every_check_on_real_mnist():
    report = project.check_project(project.SOLUTION_DIR, datasets=["mnist"])
    assert report.passed, str(report)


def _run(*args, cwd, data_root, timeout=600):
    env = {**os.environ, "COURSE_FAST": "1", "COURSE_DATA": str(data_root), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_solution_train_py_runs_a_fast_epoch_and_says_what_is_wrong_in_one_line(tmp_path, fake_root):
    mine = _copy_solution(tmp_path / "mine")
    res = _run("train.py", "--dataset", "mnist", cwd=mine, data_root=fake_root)
    assert res.returncode == 0, res.stderr
    assert "fast mode" in res.stdout and "epoch 1/1: train loss" in res.stdout and "test acc" in res.stdout
    assert (mine / "checkpoints" / "mnist_gap_fc.pt").exists()
    res = _run(str(mine / "train.py"), "--dataset", "svhn", cwd=tmp_path, data_root=fake_root)
    assert res.returncode != 0 and res.stderr.strip().splitlines() == [
        "error: unknown dataset 'svhn'; choose one of mnist, fashion_mnist, cifar10, cifar100"]
    res = _run("train.py", "--dataset", "cifar10", cwd=mine, data_root=tmp_path / "empty")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert "cifar10 is not on this machine" in res.stderr and "data fetch cifar10" in res.stderr
    fresh = project.new_project(tmp_path / "fresh")
    res = _run("train.py", "--dataset", "mnist", cwd=fresh, data_root=fake_root)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("error: not written yet: TODO:") and "project check" in res.stderr
