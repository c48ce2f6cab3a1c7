"""Week 3 exercises: the life cycle of one batch (shapes, one training step by hand, three classic bugs).

The shapes and counts come from course_lib's model, the training step is compared with
`training.train_step`, and each "break it" answer is what `course_lib.exercises.mistakes` observes when it runs the bug.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import models, training
from . import mistakes
from .core import Exercise, Verdict, expect_choice, expect_number, expect_shape, register, right, unanswered, wrong


def _model(seed: int = 0) -> models.ImageClassifier:
    with torch.random.fork_rng(devices=[]):  # the learner's own random state is left alone
        torch.manual_seed(seed)
        return models.build_model("mnist", "gap_fc")


def _random_batches(n: int = 2, size: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 1, 28, 28, generator=g), torch.randint(0, 10, (size,), generator=g))
            for _ in range(n)]


register(Exercise(
    "week03/head-grad-shape", "predict", "The shape of the head's gradient",
    expect_shape(lambda: _model().head.fc.weight.shape,
                 why="The same shape as head.fc.weight: (classes, channels of the last feature map)."),
    hints=("A gradient has the shape of its weight.",
           "nn.Linear(in, out) stores its weight as (out, in); the GAP head's input is the backbone's channels."),
    solution="my_answer = tuple(model.head.fc.weight.shape)  # (10, 16)",
    reference=(10, 16), typical_mistakes=((16, 10), (64, 10), (10,)),
    explanation="The backbone ends with 16 channels, GAP makes a 16-vector per image and the FC maps it to "
                "10 scores: W is (10, 16), and so is dE/dW."))


register(Exercise(
    "week03/grad-count", "predict", "How many gradient tensors does backward() fill?",
    expect_number(lambda: len(list(_model().parameters())),
                  why=lambda v: "one per parameter tensor: 7 conv weights, 7 BatchNorm weights and 7 biases, "
                                "the FC's weight and bias."),
    hints=("One .grad per parameter tensor, not per number.",
           "Each conv block has a conv (no bias) and a BatchNorm (a weight and a bias)."),
    solution="my_answer = len(list(model.parameters()))",
    reference=23, typical_mistakes=(7, 9, 7966),
    explanation="backward() fills .grad of every leaf tensor that requires a gradient: the graph drawn in this "
                "lesson shows them as the green leaves."))


def _row_sum() -> float:
    """The largest |row sum| of dE/dy_out for a random batch, to 6 decimals (0 up to float rounding)."""
    g = torch.Generator().manual_seed(0)
    y_out = torch.randn(16, 10, generator=g, requires_grad=True)
    F.cross_entropy(y_out, torch.randint(0, 10, (16,), generator=g)).backward()
    return round(float(y_out.grad.sum(1).abs().max()), 6)


register(Exercise(
    "week03/row-sum", "predict", "What does each row of dE/dy_out add up to?",
    expect_number(_row_sum, abs_tol=1e-6,
                  why=lambda v: "(softmax - onehot)/N: the probabilities add up to 1, the one-hot row too."),
    hints=("Each row of dE/dy_out is (softmax(y_out_i) - onehot(y_i)) / N.",),
    solution="my_answer = 0.0",
    reference=0.0, typical_mistakes=(1.0, 1 / 64, -1.0),
    explanation="Raising every score of an image by the same amount changes no probability, so the loss "
                "cannot change along that direction: the gradient's entries in a row add up to 0."))


def train_one_step(model, optimizer, X, y):
    """One training step: forward, loss, zero_grad, backward, update; return the loss (a 0-d tensor)."""
    y_out = model(X)  # forward: (N, K) scores
    loss = F.cross_entropy(y_out, y)  # the loss node: one number
    optimizer.zero_grad()  # forget the previous step's gradients
    loss.backward()  # dE/dW for every weight
    optimizer.step()  # W <- W - lr * dE/dW
    return loss.detach()


def _check_one_step(fn) -> Verdict:
    """Two steps with the learner's function vs two with training.train_step (plain SGD, lr 0.1)."""
    if not callable(fn):
        return wrong(f"expected a function, got {type(fn).__name__}")
    batches = _random_batches(2)
    mine, ref = _model(), _model()
    start = [p.detach().clone() for p in mine.parameters()]
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.1)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1)
    for step, batch in enumerate(batches, start=1):
        loss = fn(mine, opt_mine, *[t.clone() for t in batch])
        want = training.train_step(ref, batch, torch.nn.CrossEntropyLoss(), opt_ref, torch.device("cpu"))
        moved = any(not torch.equal(a, p) for a, p in zip(start, mine.parameters()))
        if loss is None and not moved:
            return unanswered("train_one_step returned None and changed no weight: fill in its body.")
        same = all(torch.allclose(p, q, atol=1e-6) for p, q in zip(mine.parameters(), ref.parameters()))
        if not moved:
            return wrong(f"after step {step} no weight has changed: the update is optimizer.step(), after backward().")
        if not same:
            hint = (" The first step was right: the second one still carried the first step's gradients "
                    "(zero_grad?)." if step == 2 else "")
            return wrong(f"after step {step} the weights differ from training.train_step's.{hint}")
        if loss is None:
            return wrong("the weights are right; now return the loss (loss.detach()).")
        if abs(float(loss) - want.loss.item()) > 1e-5:
            return wrong(f"the weights are right, but the returned loss {float(loss):.4f} is not the batch's "
                         f"mean cross-entropy {want.loss.item():.4f}.")
    return right("two steps give the same weights and losses as training.train_step (plain SGD, lr 0.1).")


def _without_zero_grad(model, optimizer, X, y):
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _step_before_backward(model, optimizer, X, y):
    loss = F.cross_entropy(model(X), y)
    optimizer.zero_grad()
    optimizer.step()
    loss.backward()
    return loss.detach()


register(Exercise(
    "week03/one-step", "fill in", "One training step by hand",
    _check_one_step,
    hints=("Forward gives y_out; F.cross_entropy(y_out, y) gives the loss node.",
           "Gradients add up in .grad: clear them before backward.",
           "The order is forward, loss, zero_grad, backward, step - the function printed in section 1."),
    solution=train_one_step,
    typical_mistakes=(_without_zero_grad, _step_before_backward),
    explanation="Checked over two steps, so a forgotten zero_grad shows up in the second one; the result must "
                "match course_lib's training.train_step weight for weight."))


ZERO_GRAD_CHOICES = {
    "a": "nothing changes: the same losses and weights as with zero_grad",
    "b": "W.grad holds the sum of all gradients so far: it grows step after step, so each update is "
         "no longer this batch's gradient",
    "c": "PyTorch raises an error at the second backward()",
    "d": "the weights stop changing after the first step",
}


def observe_forgotten_zero_grad(run: mistakes.ZeroGradRun) -> str:
    """The choice that describes a run of `mistakes.forgotten_zero_grad`."""
    if not run.weights_changed:
        return "d"
    grows = run.grad_norm_broken[-1] > 1.2 * run.grad_norm_right[-1]
    return "b" if run.grad_is_running_sum and grows else "a"


def _observe_zero_grad() -> str:
    try:
        run = mistakes.forgotten_zero_grad(_model(), _random_batches(4))
    except RuntimeError:
        return "c"
    return observe_forgotten_zero_grad(run)


register(Exercise(
    "week03/no-zero-grad", "break it", "Drop optimizer.zero_grad()",
    expect_choice(_observe_zero_grad, ZERO_GRAD_CHOICES),
    hints=("backward() does not overwrite .grad.", "What does `+=` do over several steps?"),
    solution="my_prediction = 'b'  # .grad accumulates: step t uses g1 + g2 + ... + gt",
    reference="b", typical_mistakes=("a", "c"),
    explanation="backward() adds to .grad (useful to sum small batches on purpose). Without zero_grad, step t "
                "moves the weights by -lr (g1 + ... + gt): the run checks .grad against that running sum."))


SOFTMAX_DIM_CHOICES = {
    "a": "an error: the shapes do not match",
    "b": "nothing changes",
    "c": "each class's column sums to 1 over the images, not each image's row: an image's probabilities, "
         "and its loss, change with the other images in the batch",
    "d": "all probabilities become 0",
}


def observe_softmax_over_batch(run: mistakes.SoftmaxDimRun) -> str:
    """The choice that describes a run of `mistakes.softmax_over_batch`."""
    columns_one = torch.allclose(run.column_sums, torch.ones_like(run.column_sums), atol=1e-5)
    rows_one = torch.allclose(run.row_sums, torch.ones_like(run.row_sums), atol=1e-5)
    if rows_one and abs(run.loss_in_batch - run.loss_right) < 1e-5:
        return "b"
    if float(run.row_sums.abs().max()) == 0:
        return "d"
    return "c" if columns_one and abs(run.loss_alone - run.loss_in_batch) > 1e-4 else "b"


def _observe_softmax_dim() -> str:
    X, y = _random_batches(1)[0]
    with torch.no_grad():
        y_out = _model()(X)
    try:
        run = mistakes.softmax_over_batch(y_out, y)
    except RuntimeError:
        return "a"
    return observe_softmax_over_batch(run)


register(Exercise(
    "week03/softmax-dim", "break it", "Softmax over the wrong dimension",
    expect_choice(_observe_softmax_dim, SOFTMAX_DIM_CHOICES),
    hints=("y_out is (N, K): dim=0 runs over the images, dim=1 over the classes.",
           "softmax(dim=0) keeps the shape: no error."),
    solution="my_prediction = 'c'  # softmax(dim=0) normalizes each class over the batch",
    reference="c", typical_mistakes=("a", "b"),
    explanation="The shapes still match, so nothing complains: the bug is silent. Each image's 'probabilities' "
                "no longer add up to 1 and depend on the other images of the batch."))


TRAIN_MODE_CHOICES = {
    "a": "nothing changes: the same scores as in eval mode",
    "b": "an image's scores depend on which images share its batch, and 'evaluating' moves BatchNorm's "
         "running statistics: the model changes without any optimizer step",
    "c": "an error: gradients are needed in train mode",
    "d": "every prediction becomes class 0",
}


def observe_train_mode(run: mistakes.TrainModeEval) -> str:
    """The choice that describes a run of `mistakes.evaluated_in_train_mode`."""
    if run.max_logit_change > 1e-4 and run.running_mean_change > 0 and run.eval_mode_change < 1e-5:
        return "b"
    return "a"


def _observe_train_mode() -> str:
    X, _ = _random_batches(1, size=32)[0]
    try:
        run = mistakes.evaluated_in_train_mode(_model(), X)
    except RuntimeError:
        return "c"
    return observe_train_mode(run)


register(Exercise(
    "week03/eval-train-mode", "break it", "Evaluate in train mode",
    expect_choice(_observe_train_mode, TRAIN_MODE_CHOICES),
    hints=("In train mode BatchNorm normalizes with the statistics of the batch it sees.",
           "It also updates running_mean and running_var, even under torch.no_grad()."),
    solution="my_prediction = 'b'  # BatchNorm uses (and updates) batch statistics in train mode",
    reference="b", typical_mistakes=("a", "c"),
    explanation="model.eval() makes BatchNorm use its stored running statistics, so each image is scored on "
                "its own; train mode scores it relative to its batch and changes those statistics. "
                "training.evaluate calls model.eval() for this reason (and week 7 shows BatchNorm's batch "
                "statistics again, across devices)."))
