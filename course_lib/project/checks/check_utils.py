"""Checks of the learner's utils.py against PyTorch done by hand on a small stand-in model."""
from __future__ import annotations

import copy
import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.project.plugin import CheckFailed, doing, expect

CPU = torch.device("cpu")


def _tiny_net(channels: int = 1, classes: int = 3) -> nn.Module:
    """A small stand-in model: conv, BatchNorm, Dropout, linear: (N,1,6,6) -> (N,4,4,4) -> (N,3)."""
    return nn.Sequential(nn.Conv2d(channels, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, classes))


def _batches(n: int, size: int = 8, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 1, 6, 6, generator=gen), torch.randint(0, 3, (size,), generator=gen))
            for _ in range(n)]


def _record_modes(model: nn.Module) -> list[tuple[bool, bool]]:
    """(train mode?, gradients on?) of every forward call of `model` from now on."""
    calls: list[tuple[bool, bool]] = []
    model.register_forward_pre_hook(lambda m, args: calls.append((m.training, torch.is_grad_enabled())))
    return calls


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same_params(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, atol=1e-6) for x, y in zip(a, b))



def test_utils_get_device(project, note):
    """get_device picks cuda, then mps, then cpu"""
    with doing("get_device()"):
        device = project.utils.get_device()
    want = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    expect(isinstance(device, torch.device), f"get_device() returned {device!r}: return torch.device({want!r})")
    expect(device.type == want, f"get_device() returned {device}, but {want} is available here")
    note(str(device))


def test_utils_accuracy(project):
    """accuracy: the fraction of images whose argmax over the classes is the label"""
    logits = torch.tensor([[2.0, 1, 0], [0, 3, 1], [1, 0, 5], [4, 0, 1]])  # predicted classes 0, 1, 2, 0
    labels = torch.tensor([0, 1, 1, 2])
    gen = torch.Generator().manual_seed(0)
    cases = [(logits, labels, 0.5), (torch.randn(6, 5, generator=gen), torch.randint(0, 5, (6,), generator=gen), None)]
    for z, y, want in cases:
        want = (z.argmax(1) == y).float().mean().item() if want is None else want
        with doing(f"accuracy(logits {tuple(z.shape)}, labels {tuple(y.shape)})"):
            got = project.utils.accuracy(z, y)
        expect(isinstance(got, Real) and not isinstance(got, bool),
               f"accuracy returned {type(got).__name__}: return a Python float (.item())")
        expect(not math.isclose(got, 100 * want) or want == 0, "accuracy should be a fraction (0..1), not a percentage")
        expect(math.isclose(got, want, abs_tol=1e-6),
               f"accuracy(logits {tuple(z.shape)}, labels) is {got}, expected {want}: argmax over the classes (dim=1)")


def test_utils_train_step(project):
    """train_step: to(device), forward, loss, zero_grad, backward, step - PyTorch's update, returning the loss"""
    torch.manual_seed(0)
    model = _tiny_net()
    ref = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step, (X, y) in enumerate(_batches(2)):
        before = _params(model)
        with torch.random.fork_rng(devices=[]):  # the same Dropout masks in both models
            torch.manual_seed(step)
            loss = F.cross_entropy(ref(X), y)
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()
            torch.manual_seed(step)
            with doing("train_step(model, X, y, optimizer, device)"):
                got = project.utils.train_step(model, X.clone(), y.clone(), opt, CPU)
        expect(isinstance(got, float), f"train_step returned {type(got).__name__}: return loss.item(), a Python "
               "float (a tensor would keep the whole graph in memory)")
        expect(math.isclose(got, loss.item(), rel_tol=1e-4),
               f"train_step returned {got:.4f}, expected the batch's cross-entropy before the update, "
               f"{loss.item():.4f}")
        expect(not _same_params(before, _params(model)), "train_step did not change the weights: call loss.backward(), "
               "then optimizer.step() (and optimizer.zero_grad() before backward, not between)")
        if step == 0:
            expect(_same_params(_params(ref), _params(model)), "after one train_step the weights differ from "
                   "PyTorch's update: forward, F.cross_entropy, zero_grad, backward, step, once each")
        else:
            expect(_same_params(_params(ref), _params(model)), "the second train_step's update is wrong: gradients "
                   "add up across batches unless optimizer.zero_grad() runs before loss.backward()")


def test_utils_train_one_epoch(project):
    """train_one_epoch: train mode, one train_step per batch, returns the mean loss"""
    torch.manual_seed(0)
    model = _tiny_net().eval()  # left in eval mode by an earlier evaluation
    ref = copy.deepcopy(model).train()
    loader = _batches(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    with torch.random.fork_rng(devices=[]):  # the same Dropout masks in both models
        torch.manual_seed(1)
        with doing("train_step(model, X, y, optimizer, device)"):  # your train_step is the reference here
            losses = [project.utils.train_step(ref, X, y, ref_opt, CPU) for X, y in loader]
        calls = _record_modes(model)
        torch.manual_seed(1)
        with doing("train_one_epoch(model, loader, optimizer, device)"):
            got = project.utils.train_one_epoch(model, loader, opt, CPU)
    expect(calls and all(mode for mode, _ in calls),
           "train_one_epoch ran the model in eval mode: call model.train() first")
    expect(len(calls) == len(loader), f"train_one_epoch ran {len(calls)} forward passes for {len(loader)} batches: "
           "one train_step per batch")
    expect(_same_params(_params(ref), _params(model)), "after train_one_epoch the weights differ from one "
           "train_step per batch: call train_step(model, X, y, optimizer, device) for every (X, y)")
    expect(isinstance(got, Real), f"train_one_epoch returned {type(got).__name__}, expected the mean loss as a float")
    want = sum(losses) / len(losses)
    expect(math.isclose(got, want, rel_tol=1e-3), f"train_one_epoch returned {got:.4f}, expected the mean of "
           f"the batches' losses, {want:.4f}")


def test_utils_evaluate(project):
    """evaluate: eval mode, no gradients, weights unchanged; returns (mean loss, accuracy)"""
    torch.manual_seed(0)
    model = _tiny_net().train()
    ref = copy.deepcopy(model).eval()
    loader = _batches(3, seed=1)
    before = _params(model)
    calls = _record_modes(model)
    with doing("evaluate(model, loader, device)"):
        got = project.utils.evaluate(model, loader, CPU)
    expect(_same_params(before, _params(model)), "evaluate changed the weights: it must not call backward/step")
    expect(all(p.grad is None for p in model.parameters()), "evaluate computed gradients: it must not call backward")
    expect(calls and not any(mode for mode, _ in calls), "evaluate left the model in train mode: call "
           "model.eval() first (BatchNorm then uses its running statistics, Dropout is off)")
    expect(not any(grad for _, grad in calls), "evaluate ran with gradients on: use @torch.no_grad() "
           "(less memory, faster, and nothing to backpropagate)")
    expect(isinstance(got, tuple) and len(got) == 2 and all(isinstance(v, Real) for v in got),
           f"evaluate returned {got!r}: return (mean loss, accuracy) as two floats")
    with torch.no_grad():
        X, y = torch.cat([b[0] for b in loader]), torch.cat([b[1] for b in loader])
        logits = ref(X)
        want_loss, want_acc = F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()
    expect(not math.isclose(got[1], 100 * want_acc) or want_acc == 0, "evaluate's accuracy should be a fraction (0..1)")
    expect(math.isclose(got[0], want_loss, rel_tol=1e-4),
           f"evaluate's mean loss is {got[0]:.4f}, expected {want_loss:.4f}")
    expect(math.isclose(got[1], want_acc, abs_tol=1e-6), f"evaluate's accuracy is {got[1]}, expected {want_acc}")


def test_utils_checkpoint(project, tmp_path):
    """save_checkpoint writes the weights, the optimizer's state and the epoch, readable with weights_only=True"""
    torch.manual_seed(0)
    model = _tiny_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    X, y = _batches(1)[0]
    F.cross_entropy(model(X), y).backward()
    opt.step()  # the optimizer now has momentum buffers to save
    path = tmp_path / "new_folder" / "run.pt"
    with doing("save_checkpoint(path, model, optimizer, epoch=3)"):
        project.utils.save_checkpoint(path, model, opt, 3)
    expect(path.exists(), "save_checkpoint wrote no file at `path` (create its folder if needed)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckFailed("torch.load(path, weights_only=True) cannot read the checkpoint: save state_dicts "
                          f"and numbers, not whole objects ({type(exc).__name__})") from exc
    expect(isinstance(state, dict) and {"model", "optimizer", "epoch"} <= set(state),
           "the checkpoint should be a dict with 'model', 'optimizer' and 'epoch'; it has "
           f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
    expect(state["epoch"] == 3, f"the checkpoint's epoch is {state['epoch']!r}, expected 3")
    fresh = _tiny_net()
    with doing("loading the checkpoint's 'model' into a fresh model"):
        fresh.load_state_dict(state["model"])
    expect(_same_params(_params(fresh), _params(model)), "the checkpoint's 'model' weights are not the model's")


