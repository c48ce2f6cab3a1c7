"""Training: one batch's life cycle, evaluation, fit, checkpoints that survive a kill."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from course_lib import data, training
from course_lib.config import TrainConfig
from course_lib.data import loaders
from course_lib.models import build_model
from course_lib.training import checkpoint

from .conftest import REPO


def test_get_device_prefers_what_is_asked_then_cpu_here():
    assert training.get_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else training.get_device().type
    assert training.get_device().type == expected


def test_train_step_is_one_sgd_update():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    X, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    W, b = model.weight.detach().clone(), model.bias.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    result = training.train_step(model, (X, y), nn.CrossEntropyLoss(), opt, torch.device("cpu"))
    # by hand: dLoss/dlogits = (softmax - onehot) / N
    logits = X @ W.T + b
    g = (logits.softmax(1) - nn.functional.one_hot(y, 3)) / len(y)
    assert torch.allclose(model.weight, W - 0.5 * g.T @ X, atol=1e-6)
    assert torch.allclose(model.bias, b - 0.5 * g.sum(0), atol=1e-6)
    assert abs(result.loss.item() - nn.functional.cross_entropy(logits, y).item()) < 1e-6
    assert result.correct.item() == (logits.argmax(1) == y).sum().item() and result.count == 8


@pytest.mark.parametrize("bf16", [False, True])
def test_loss_goes_down_on_a_tiny_batch(bf16):
    torch.manual_seed(0)
    model = build_model("mnist", "gap_fc")
    X, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = [training.train_step(model, (X, y), nn.CrossEntropyLoss(), opt, torch.device("cpu"), bf16=bf16).loss.item()
              for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]


class _FixedLogits(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.dummy = nn.Parameter(torch.zeros(()))
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        assert not torch.is_grad_enabled(), "evaluate must not build a graph"
        return self.logits[x.long().view(-1)] + self.dummy


def test_evaluate_uses_eval_mode_no_grad_and_per_class_accuracy():
    logits = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [2.0, 0, 0], [0, 0, 2.0]])
    labels = torch.tensor([0, 1, 1, 2])
    model = _FixedLogits(logits)
    loader = [(torch.arange(4).float(), labels)]
    result = training.evaluate(model, loader, torch.device("cpu"))
    assert model.modes == [False] and model.training  # eval during, train mode restored after
    assert result.accuracy == pytest.approx(0.75)
    assert result.per_class_accuracy == pytest.approx([1.0, 0.5, 1.0])
    assert result.loss == pytest.approx(nn.functional.cross_entropy(logits, labels).item())


def test_fit_learns_the_fake_digits(fake_root):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=6, batch_size=16, lr=0.1)
    train_loader, test_loader = data.get_loaders("mnist", 16, root=fake_root, fast=False)
    history = training.fit(build_model("mnist", "gap_fc"), train_loader, test_loader, cfg, progress=False)
    assert history.epoch == [1, 2, 3, 4, 5, 6] and len(history.seconds) == 6
    assert history.test_acc[-1] > 0.5  # 10 classes: chance is 0.1


def test_fit_records_a_training_curve_per_eighth_of_an_epoch(fake_root):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1)
    train_loader, test_loader = data.get_loaders("mnist", 16, root=fake_root, fast=False)
    n = len(train_loader)
    history = training.fit(build_model("mnist", "gap_fc"), train_loader, test_loader, cfg, progress=False)
    per_epoch = len(history.curve_epoch) // 2
    assert n >= 8 and per_epoch == training.CURVE_POINTS_PER_EPOCH, (n, per_epoch)

    assert len(history.curve_epoch) == len(history.curve_loss) == len(history.curve_acc) == 2 * per_epoch
    assert history.curve_epoch[per_epoch - 1] == 1.0 and history.curve_epoch[-1] == 2.0  # each epoch's last batch
    assert all(a < b for a, b in zip(history.curve_epoch, history.curve_epoch[1:]))
    assert all(0 <= acc <= 1 for acc in history.curve_acc)
    # the stretches partition the epoch: their image-weighted mean is the epoch's training loss
    ends = sorted(training.curve_points(n))
    sizes = [b - a for a, b in zip([0] + ends, ends)]
    weighted = sum(s * loss for s, loss in zip(sizes, history.curve_loss[:per_epoch])) / n
    assert weighted == pytest.approx(history.train_loss[0], rel=1e-4)  # all batches full: 16 images each
    restored = training.History.from_dict(history.to_dict())  # it lives in the checkpoint too
    assert restored.curve_loss == history.curve_loss


@pytest.mark.parametrize("n", [1, 3, 8, 9, 17, 20, 469])
def test_curve_points_split_an_epoch_into_eighths(n):
    points = sorted(training.curve_points(n))
    assert len(points) == min(n, 8) and points[-1] == n
    sizes = [b - a for a, b in zip([0] + points, points)]
    assert max(sizes) - min(sizes) <= 1  # stretches of equal length, to a batch


def test_fast_mode_prints_the_augmentation_that_runs(fake_root, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    cfg = training.default_config("mnist", data_root=str(fake_root), device="cpu")
    assert cfg.augment and cfg.clean_epochs >= 1  # the recipe augments all but its last epochs
    training.run_training(cfg, progress=False)
    out = capsys.readouterr().out
    assert "augmentation off: all 1 epoch(s) are within clean_epochs=" in out
    assert "augment=False" in out.replace(" ", ""), out  # describe(): `  augment          = False`
    assert "augment=True" not in out.replace(" ", "")


_RUN = textwrap.dedent("""
    import os, signal, sys, torch
    from course_lib import data, training
    from course_lib.config import TrainConfig
    from course_lib.models import build_model
    root, ckpt, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05, checkpoint=ckpt, seed=1, cooldown=0.5)
    training.seed_everything(cfg.seed)
    model = build_model("mnist", "gap_fc")
    tr, te = data.get_loaders("mnist", 32, root=root, fast=False, seed=cfg.seed)
    def die(epoch, history):
        if epoch == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)   # a real kill -9, no cleanup
    training.fit(model, tr, te, cfg, on_epoch_end=die, progress=False)
    torch.save(model.state_dict(), ckpt + ".final")
""")


def _run(root, ckpt, kill_after):
    return subprocess.run([sys.executable, "-c", _RUN, str(root), str(ckpt), str(kill_after)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def _lrs(config: TrainConfig, steps_per_epoch: int = 10) -> list[float]:
    opt, sched = training.make_optimizer(nn.Linear(2, 2), config, steps_per_epoch)
    lrs = []
    for _ in range(config.epochs * steps_per_epoch):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_onecycle_rises_falls_then_holds_for_the_cooldown():
    lrs = _lrs(TrainConfig(epochs=4, lr=0.1, cooldown=0.25))  # the last of 4 epochs
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(0.1 / 25) and max(lrs) == pytest.approx(0.1, rel=1e-2)
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))  # warm-up
    assert all(a >= b for a, b in zip(lrs[peak:29], lrs[peak + 1:30]))  # annealing over 3 epochs
    assert lrs[29:] == [pytest.approx(0.1 / 500)] * 11  # the last epoch holds the final lr
    no_cooldown = _lrs(TrainConfig(epochs=4, lr=0.1))
    assert no_cooldown[-1] == pytest.approx(0.1 / 500) and no_cooldown[-2] > no_cooldown[-1]


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_cooldown_must_be_a_fraction_of_the_run(bad):
    with pytest.raises(ValueError, match=r"cooldown out of range .* \[0, 1\) \(the fraction of the run"):
        training.make_optimizer(nn.Linear(2, 2), TrainConfig(cooldown=bad), 10)


def test_clean_epochs_end_the_run_on_unaugmented_images(fake_root, monkeypatch):
    calls = []
    real_affine = loaders.random_affine  # what InMemoryLoader calls
    monkeypatch.setattr(loaders, "random_affine", lambda x, *a, **k: calls.append(1) or real_affine(x, *a, **k))
    tr, te = data.get_loaders("mnist", 64, root=fake_root, fast=False, augment=True)
    switch, per_epoch = [], []

    def record(epoch, history):
        switch.append(tr.augment)
        per_epoch.append(len(calls) - sum(per_epoch))

    cfg = TrainConfig(epochs=3, batch_size=64, clean_epochs=2, augment=True)
    training.fit(build_model("mnist"), tr, te, cfg, on_epoch_end=record, progress=False)
    assert switch == [True, False, False]
    assert per_epoch == [len(tr), 0, 0]  # every batch of epoch 1 augmented, none after
    assert tr.augment  # the loader's own setting is back


def test_clean_epochs_leave_loaders_without_augmentation_alone(fake_root):
    tr, te = data.get_loaders("mnist", 64, root=fake_root, fast=False, augment=False)
    with training.augmentation_schedule(tr, TrainConfig(epochs=3, clean_epochs=1)) as start_epoch:
        start_epoch(0)
        assert tr.augment is False
    with pytest.raises(ValueError, match=r"clean_epochs out of range \(clean_epochs=-1\)"):
        with training.augmentation_schedule(tr, TrainConfig(clean_epochs=-1)):
            pass


def test_killed_run_resumes_at_the_right_epoch_with_the_same_weights(fake_root, tmp_path):
    straight = _run(fake_root, tmp_path / "a.pt", 0)
    assert straight.returncode == 0, straight.stderr
    killed = _run(fake_root, tmp_path / "b.pt", 1)
    assert killed.returncode == -9  # SIGKILL after epoch 1's checkpoint
    state = checkpoint.load_checkpoint(tmp_path / "b.pt")
    assert state["epoch"] == 1 and state["history"]["epoch"] == [1]
    resumed = _run(fake_root, tmp_path / "b.pt", 0)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "1 of 3 epochs done" in resumed.stdout
    assert "epoch 1/3" not in resumed.stdout.split("resumed from")[1]
    final_a = torch.load(str(tmp_path / "a.pt") + ".final", weights_only=True)
    final_b = torch.load(str(tmp_path / "b.pt") + ".final", weights_only=True)
    for name in final_a:
        assert torch.equal(final_a[name], final_b[name]), name
    assert checkpoint.load_checkpoint(tmp_path / "b.pt")["history"]["epoch"] == [1, 2, 3]


def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    checkpoint.save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(checkpoint.CheckpointError, match="disk full.*the previous file is intact"):
        checkpoint.save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert checkpoint.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind


def test_corrupted_or_foreign_checkpoints_give_clear_errors(tmp_path, fake_root):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="corrupted"):
        checkpoint.load_checkpoint(path)
    torch.save({"evil": _FixedLogits}, path)  # arbitrary Python objects are refused
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load_checkpoint(path)
    cfg = TrainConfig(epochs=1, batch_size=64, checkpoint=str(tmp_path / "run.pt"))
    tr, te = data.get_loaders("mnist", 64, root=fake_root, fast=False)
    training.fit(build_model("mnist", "gap_fc"), tr, te, cfg, progress=False)
    with pytest.raises(checkpoint.CheckpointError, match="head='gap_fc', this run has head='flatten_fc'"):
        training.fit(build_model("mnist", "flatten_fc"), tr, te, cfg.replace(head="flatten_fc"), progress=False)


def test_checkpoints_from_before_a_config_field_existed_compare_with_its_default(tmp_path):
    state = {"format": training.CHECKPOINT_FORMAT, "epoch": 0, "model": {}, "optimizer": {}, "scheduler": {},
             "history": {"epoch": []},
             "config": {k: v for k, v in vars(TrainConfig()).items() if k != "clean_epochs"}}  # an older file
    training.check_checkpoint(state, "old.pt", TrainConfig())  # the default: same run
    with pytest.raises(checkpoint.CheckpointError, match="clean_epochs=0, this run has clean_epochs=2"):
        training.check_checkpoint(state, "old.pt", TrainConfig(clean_epochs=2))


def test_config_rejects_unknown_fields():
    with pytest.raises(TypeError, match="learning_rate"):
        TrainConfig().replace(learning_rate=0.1)
