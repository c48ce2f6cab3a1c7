"""The learner's data.py, model.py and utils.py together: one batch learned, one short epoch run."""
from __future__ import annotations

import math

import torch

from course_lib.project.plugin import dataset_dims, expect, waiting_for

CPU = torch.device("cpu")



def test_smoke_one_batch(project, dataset, root, note):
    """20 train_steps on one batch of 32 images at least halve its loss"""
    waiting_for("data", "model", "utils", dataset=dataset)
    c, k, size = dataset_dims(dataset)
    torch.manual_seed(0)
    train, _ = project.data.build_loaders(dataset, batch_size=32, root=root, train_size=64, test_size=32)
    X, y = next(iter(train))
    net = project.model.Net(c, k, size)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = [project.utils.train_step(net, X, y, opt, CPU) for _ in range(20)]
    expect(all(math.isfinite(v) for v in losses),
           f"the loss became {losses[-1]} on one batch: look for a division by 0")
    expect(losses[-1] < 0.5 * losses[0], f"the loss went from {losses[0]:.3f} to {losses[-1]:.3f} in 20 steps on "
           "one batch of 32 images: it should at least halve (is the update applied? are the labels right?)")
    note(f"loss {losses[0]:.2f} -> {losses[-1]:.2f}")


def test_smoke_epoch(project, dataset, root, tmp_path, note):
    """one epoch on (up to) 256 images, evaluate, save and load a checkpoint: train.py in small"""
    waiting_for("data", "model", "utils", dataset=dataset)
    c, k, size = dataset_dims(dataset)
    torch.manual_seed(0)
    device = project.utils.get_device()
    train, test = project.data.build_loaders(dataset, batch_size=32, root=root, train_size=256, test_size=128)
    net = project.model.Net(c, k, size).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    train_loss = project.utils.train_one_epoch(net, train, opt, device)
    test_loss, acc = project.utils.evaluate(net, test, device)
    expect(math.isfinite(train_loss) and math.isfinite(test_loss), f"losses {train_loss}, {test_loss} are not finite")
    expect(0 <= acc <= 1, f"the test accuracy is {acc}, expected a fraction between 0 and 1")
    project.utils.save_checkpoint(tmp_path / "run.pt", net, opt, 1)
    expect(project.utils.load_checkpoint(tmp_path / "run.pt", net, opt) == 1,
           "load_checkpoint did not give back epoch 1")
    note(f"{len(train.dataset)} images: train loss {train_loss:.2f}, test loss {test_loss:.2f}, "
         f"test accuracy {100 * acc:.1f}%")
