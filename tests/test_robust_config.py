"""Every training setting is checked in one place (config.py): the same ranges for `TrainConfig` in a notebook,
`python -m course_lib train` and `-m course_lib.parallel` (flags and environment variables). A bad value is
one `error: ...` line naming the setting, the value and what to give instead, with exit status 2."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib.config import RANGES, FlagParser, TrainConfig, add_config_arguments
from course_lib.errors import ConfigError
from course_lib.training import config_from_args, distributed

from .conftest import REPO, one_error_line

ENV = {**os.environ, "COURSE_FAST": "0", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
for name in (*distributed.ENV_VARS, "COURSE_DDP_TIMEOUT"):
    ENV.pop(name, None)
FLOATS = [name for name, (low, high, *_) in RANGES.items() if isinstance(getattr(TrainConfig, name), float)]
INTS = [name for name in RANGES if name not in FLOATS]


def run(module: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=120)



def inside(name: str, value: float) -> bool:
    low, high, low_in, high_in = RANGES[name]
    return (math.isfinite(value) and (value >= low if low_in else value > low)
            and (value <= high if high_in else value < high))


# ----------------------------------------------------------------------------- TrainConfig (notebooks)


@pytest.mark.parametrize("field, bad", [
    ("batch_size", 0), ("batch_size", -3), ("lr", 0.0), ("lr", float("nan")), ("lr", float("inf")), ("lr", 11.0),
    ("momentum", 1.0), ("momentum", -0.1), ("weight_decay", -1e-4), ("weight_decay", float("nan")),
    ("label_smoothing", 1.0), ("cooldown", 1.0), ("cooldown", -0.5), ("epochs", -1), ("clean_epochs", -1),
    ("train_size", -1), ("seed", -1)])
def test_trainconfig_refuses_values_out_of_range(field, bad):
    with pytest.raises(ConfigError, match=rf"^{field} out of range \({field}=.*\): give a .* in [\[(]"):
        TrainConfig(**{field: bad})
    with pytest.raises(ConfigError):
        TrainConfig().replace(**{field: bad})


@pytest.mark.parametrize("field, bad", [("epochs", 2.5), ("epochs", True), ("batch_size", "64"), ("lr", "0.1"),
                                        ("augment", 1), ("dataset", None)])
def test_trainconfig_refuses_the_wrong_type(field, bad):
    with pytest.raises(ConfigError, match=rf"^{field} has the wrong type"):
        TrainConfig(**{field: bad})


def test_a_config_changed_field_by_field_is_checked_when_training_starts(fake_root):
    from course_lib import data, training
    from course_lib.models import build_model

    config = TrainConfig(epochs=1, batch_size=32)
    config.lr = float("nan")  # a dataclass: a notebook can do this
    tr, te = data.get_loaders("mnist", 32, root=fake_root, fast=False)
    with pytest.raises(ConfigError, match=r"lr out of range \(lr=nan\)"):
        training.fit(build_model("mnist"), tr, te, config, progress=False)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cuda:", "gpu0"])
def test_a_device_name_is_checked_in_the_config(device):
    with pytest.raises(ConfigError, match=r"^unknown device \("):
        TrainConfig(device=device)


def test_a_device_that_is_not_present_is_one_clear_error():
    from course_lib.training import get_device

    with pytest.raises(ConfigError, match=r"^device not present \('cuda:99'\): this machine has \d+ CUDA GPU"):
        get_device("cuda:99")


# ----------------------------------------------------------------------------- the flag parser (hypothesis)


def parse(argv: list[str]) -> TrainConfig:
    parser = FlagParser(prog="test")
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(argv))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FLOATS + INTS),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15),
                       st.sampled_from(["nan", "-inf", "inf", "1e999", "0x10", "", " 1", "1_000", "١"]),
                       st.text(max_size=8)))
def test_any_value_of_a_numeric_flag_is_in_range_or_one_clear_error(name, value):
    """Whatever follows `--flag=`: a config whose field is in its allowed range, or exit status 2 from the
    parser, or a ConfigError naming the field; never another exception, never NaN or inf in a config."""
    flag = f"--{name.replace('_', '-')}={value}"
    try:
        config = parse([flag])
    except SystemExit as exc:
        assert exc.code == 2
        return
    except ConfigError as exc:
        assert str(exc).startswith(f"{name} out of range ({name}=") and "\n" not in str(exc)
        return
    assert inside(name, getattr(config, name)), (flag, getattr(config, name))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(FLOATS + INTS),
                       st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-100, 10**6)),
                       max_size=4))
def test_trainconfig_built_in_a_notebook_holds_the_same_ranges(values):
    try:
        config = TrainConfig(**values)
    except ConfigError:  # refused: some value is out of its range, or a float where a whole number belongs
        assert any((name in INTS and isinstance(v, float)) or not inside(name, v) for name, v in values.items())
        return
    assert all(inside(name, getattr(config, name)) for name in values)


# ----------------------------------------------------------------------------- command lines


@pytest.mark.parametrize("args, says", [
    (["--batch-size", "0"], "error: batch_size out of range (batch_size=0): give a whole number in [1, "),
    (["--lr", "nan"], "error: lr out of range (lr=nan): give a finite number in (0, 10]"),
    (["--momentum", "inf"], "error: momentum out of range (momentum=inf)"),
    (["--weight-decay=-1"], "error: weight_decay out of range"),
    (["--label-smoothing", "1"], "error: label_smoothing out of range"),
    (["--cooldown", "1.5"], "error: cooldown out of range"),
    (["--epochs=-2"], "error: epochs out of range"),
    (["--clean-epochs=-1"], "error: clean_epochs out of range"),
    (["--train-size=-1"], "error: train_size out of range"),
    (["--batch-size", "abc"], "error: argument --batch-size: invalid int value: 'abc'"),
    (["--augment", "maybe"], "error: argument --augment: expected true/false, got 'maybe'"),
    (["--device", "tpu"], "error: unknown device ('tpu')"),
    (["--device", "cuda:7"], "error: device not present ('cuda:7')"),
    (["--schedule", "cosine"], "error: unknown schedule ('cosine'): use one of onecycle, constant"),
    (["--backbone", "vgg_tiny224"], "error: backbone does not fit the data set ('vgg_tiny224' on mnist"),
    (["--train-size", "100000"], "error: train_size larger than the training set (100000 > 256 mnist images)"),
])
def test_course_lib_train_flags_are_one_line_errors(fake_root, args, says):
    line = one_error_line(run("course_lib", "train", "--dataset", "mnist", "--data-root", fake_root, *args))
    assert line.startswith(says), line


def test_epochs_0_says_why_nothing_ran(fake_root, tmp_path):
    proc = run("course_lib", "train", "--dataset", "mnist", "--data-root", fake_root, "--epochs", "0",
               "--checkpoint", tmp_path / "run.pt")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to train: epochs=0 (give --epochs 1 or more)" in proc.stdout
    assert not (tmp_path / "run.pt").exists()


@pytest.mark.parametrize("args, env, says", [
    (["--lr", "nan"], {}, "error: lr out of range (lr=nan)"),
    (["--timeout", "0"], {}, "error: --timeout is not a number of seconds > 0"),
    (["--timeout", "nan"], {}, "error: --timeout is not a number of seconds > 0"),
    ([], {"COURSE_DDP_TIMEOUT": "soon"}, "error: COURSE_DDP_TIMEOUT is not a number of seconds > 0"),
    ([], {"COURSE_DDP_TIMEOUT": "-5"}, "error: COURSE_DDP_TIMEOUT is not a number of seconds > 0"),
    ([], {"RANK": "zero", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
     "error: environment variable RANK is not a whole number in [0, 1] (RANK='zero')"),
    ([], {"RANK": "3", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
     "error: environment variable RANK is not a whole number in [0, 1]"),
    ([], {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
     "error: environment variable WORLD_SIZE is not a whole number in [1, "),
    ([], {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "99999"},
     "error: environment variable MASTER_PORT is not a whole number in [1, 65535]"),
    (["--batch-size", "x"], {}, "error: argument --batch-size: invalid int value: 'x'"),
])
def test_the_data_parallel_entry_checks_flags_and_environment(fake_root, args, env, says):
    line = one_error_line(run("course_lib.parallel", "--dataset", "mnist", "--data-root", fake_root, *args, env=env))
    assert line.startswith(says), line


def test_the_launcher_checks_its_timeout_setting():
    line = one_error_line(run("course_lib.launch", "--standalone", "--nproc_per_node=2", "-m", "course_lib.parallel",
                              env={"COURSE_DDP_TIMEOUT": "inf"}))
    assert line.startswith("error: COURSE_DDP_TIMEOUT is not a number of seconds > 0 (COURSE_DDP_TIMEOUT='inf')")


def test_the_launcher_adds_the_rendezvous_timeout_only_where_none_is_set(monkeypatch):
    from course_lib.launch import with_rendezvous_timeout

    monkeypatch.delenv("PET_RDZV_CONF", raising=False)
    argv = ["--nnodes=2", "-m", "course_lib.parallel", "--rdzv_conf=not-a-torchrun-flag-here"]
    assert with_rendezvous_timeout(argv, 4.4) == ["--rdzv_conf=join_timeout=4,timeout=4", *argv]
    for own in (["--rdzv_conf=timeout=9", "-m", "x"], ["--rdzv-conf", "join_timeout=9", "-m", "x"]):
        assert with_rendezvous_timeout(own, 4) == own  # the user's own setting wins
    monkeypatch.setenv("PET_RDZV_CONF", "timeout=9")
    assert with_rendezvous_timeout(["-m", "x"], 4) == ["-m", "x"]
