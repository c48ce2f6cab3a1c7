"""Week 2 exercises: the network from scratch, its gradients by hand, checked against autograd.

Gradients are checked against PyTorch's autograd at check time; counts come from course_lib's heads.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import models
from ..models import heads
from . import mistakes
from .core import Exercise, Verdict, expect_choice, expect_function, expect_number, expect_shape, register, wrong


def _mlp_parameters(hidden: int) -> int:
    """The 784-hidden-10 network is course_lib's conv1x1_flatten_fc head on a (784, 1, 1) map."""
    return models.count_parameters(heads.make_head("conv1x1_flatten_fc", 784, 10, feature_hw=(1, 1),
                                                   reduced_channels=hidden))


register(Exercise(
    "week02/parameters", "predict", "How many parameters with 32 hidden units?",
    expect_number(lambda: _mlp_parameters(32), why=lambda v: "784*32 + 32 (W1, b1) + 32*10 + 10 (W2, b2)."),
    hints=("Count W1, b1, W2 and b2 separately.", "W1 is (32, 784), b1 has one entry per hidden unit."),
    solution="my_answer = 784 * 32 + 32 + 32 * 10 + 10",
    reference=784 * 32 + 32 + 32 * 10 + 10, typical_mistakes=(784 * 32 + 32 * 10, 784 * 32),
    explanation="Every hidden unit has 784 weights and a bias; every class has 32 weights and a bias. "
                "The check counts the parameters of course_lib's conv1x1_flatten_fc head with 32 channels."))


def _dW1_shape() -> tuple[int, ...]:
    W1 = torch.zeros(64, 784, requires_grad=True)
    X = torch.randn(128, 784)
    (X @ W1.T).clamp(min=0).sum().backward()
    return tuple(W1.grad.shape)


register(Exercise(
    "week02/grad-shape", "predict", "The shape of dE/dW1",
    expect_shape(_dW1_shape, why="One partial derivative per weight: the same shape as W1 = (H, 784)."),
    hints=("E is one number; how many numbers does W1 hold?",),
    solution="my_answer = (64, 784)  # the shape of W1 itself",
    reference=(64, 784), typical_mistakes=((784, 64), (128, 64), (128, 784)),
    explanation="dE/dW1 answers 'how does E change when this one weight changes?' for every weight, so it has "
                "W1's shape, whatever the batch size."))


WHICH_LOSS = {
    "a": "the mean cross-entropy of softmax(y_out) against the one-hot labels",
    "b": "the mean squared error E = 1/(2N) sum_i ||y_out_i - onehot(y_i)||^2 on the raw outputs",
    "c": "both",
    "d": "neither",
}


def _which_loss_has_linear_error() -> str:
    """Autograd on both losses: which one has dE/dy_out == (y_out - onehot) / N?"""
    g = torch.Generator().manual_seed(0)
    y_out = torch.randn(8, 10, generator=g, requires_grad=True)
    y = torch.randint(0, 10, (8,), generator=g)
    onehot = F.one_hot(y, 10).float()
    target = (y_out - onehot).detach() / len(y)
    (ce,) = torch.autograd.grad(F.cross_entropy(y_out, y), y_out)
    (se,) = torch.autograd.grad(0.5 * ((y_out - onehot) ** 2).sum(1).mean(), y_out)
    a, b = torch.allclose(ce, target, atol=1e-6), torch.allclose(se, target, atol=1e-6)
    return {(True, False): "a", (False, True): "b", (True, True): "c", (False, False): "d"}[(a, b)]


register(Exercise(
    "week02/which-error", "predict", "Whose gradient is y_out - onehot(y)?",
    expect_choice(_which_loss_has_linear_error, WHICH_LOSS),
    hints=("Differentiate 1/2 (y_out - t)^2 with respect to y_out.",
           "Cross-entropy's gradient goes through the softmax: it contains probabilities."),
    solution="my_answer = 'b'  # (y_out - onehot)/N: squared error; cross-entropy gives (p - onehot)/N",
    reference="b", typical_mistakes=("a", "c"),
    explanation="d/dy_out of 1/(2N) ||y_out - t||^2 is (y_out - t)/N. Cross-entropy on the logits gives "
                "(softmax(y_out) - onehot)/N: the same form, with probabilities in place of raw outputs."))


def ce_grad(y_out, y):
    """dE/dy_out of the mean cross-entropy E over N images: (softmax(y_out) - onehot(y)) / N, shape (N, K)."""
    onehot = F.one_hot(y, y_out.shape[1]).to(y_out.dtype)  # (N,) -> (N,K)
    return (y_out.softmax(dim=1) - onehot) / len(y)


def _ce_grad_autograd(y_out, y):
    y_out = y_out.detach().clone().requires_grad_(True)
    F.cross_entropy(y_out, y).backward()
    return y_out.grad


def _logits_and_labels() -> tuple:
    return torch.randn(6, 10), torch.randint(0, 10, (6,))


def _check_ce_grad(fn) -> Verdict:
    """Compare with autograd; recognize the two classic slips and say which one it is."""
    verdict = expect_function(_ce_grad_autograd, _logits_and_labels, atol=1e-6, name="ce_grad")(fn)
    if verdict.status != "wrong" or "wrong values" not in verdict.message:
        return verdict
    g = torch.Generator().manual_seed(0)  # the learner's own random state is left alone
    y_out, y = torch.randn(6, 10, generator=g), torch.randint(0, 10, (6,), generator=g)
    got = torch.as_tensor(fn(y_out.clone(), y.clone())).double()
    onehot, n = F.one_hot(y, 10).double(), len(y)
    if got.shape == onehot.shape and torch.allclose(got, y_out.double().softmax(1) - onehot, atol=1e-5):
        return wrong("this is N times too large: E is the mean over N images, so divide by N.")
    raw = y_out.double() - onehot
    if got.shape == onehot.shape and (torch.allclose(got, raw, atol=1e-5) or torch.allclose(got, raw / n, atol=1e-5)):
        return wrong("y_out - onehot is the gradient of a squared error on raw outputs; cross-entropy's "
                     "gradient goes through the softmax.")
    return verdict


register(Exercise(
    "week02/ce-grad", "fill in", "The softmax-cross-entropy gradient dE/dy_out",
    _check_ce_grad,
    hints=("Each image's loss is -log softmax(y_out)[y]; its gradient is softmax(y_out) - onehot(y).",
           "E is the mean over the N images.", "F.one_hot(y, K) makes the one-hot rows; match y_out's dtype."),
    solution=ce_grad,
    typical_mistakes=(lambda y_out, y: y_out.softmax(1) - F.one_hot(y, 10),
                      lambda y_out, y: (y_out - F.one_hot(y, 10)) / len(y),
                      lambda y_out, y: (y_out.softmax(0) - F.one_hot(y, 10)) / len(y)),
    explanation="Checked against autograd's gradient of F.cross_entropy (mean reduction) on random logits. "
                "This delta is where backpropagation starts."))


def linear_grad_W(X, delta):
    """For y = X W^T + b with dE/dy = delta (N, out): dE/dW = delta^T X, shape (out, in)."""
    return delta.T @ X  # (out,N) @ (N,in) -> (out,in)


def _linear_grad_autograd(X, delta):
    W = torch.zeros(delta.shape[1], X.shape[1], requires_grad=True)
    ((X @ W.T) * delta).sum().backward()  # a loss whose gradient w.r.t. y = X W^T is exactly delta
    return W.grad


register(Exercise(
    "week02/linear-grad", "fill in", "A linear layer's dE/dW",
    expect_function(_linear_grad_autograd, lambda: (torch.randn(5, 7), torch.randn(5, 3)), atol=1e-5,
                    name="linear_grad_W"),
    hints=("dE/dW has W's shape (out, in).",
           "Sum over the images: every image adds delta_i (out) times X_i (in) - an outer product."),
    solution=linear_grad_W,
    typical_mistakes=(lambda X, delta: X.T @ delta, lambda X, delta: delta.T @ X / len(X)),
    explanation="y_j = sum_k W_jk x_k, so dE/dW_jk = sum_i delta_ij X_ik: delta^T X. No extra 1/N: delta "
                "already carries it."))


RELU_MASK_CHOICES = {
    "a": "all four gradients still equal autograd's",
    "b": "dE/dW2 and dE/db2 still equal autograd's; dE/dW1 and dE/db1 do not",
    "c": "all four gradients differ from autograd's",
    "d": "only dE/db1 differs",
}


def _observe_relu_mask() -> str:
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(16, 784, generator=g), torch.randint(0, 10, (16,), generator=g)
    diffs = mistakes.forgotten_relu_mask(X, y)
    wrong_ones = {n for n, d in diffs.items() if d > 1e-5}
    return {frozenset(): "a", frozenset({"W1", "b1"}): "b", frozenset({"W1", "b1", "W2", "b2"}): "c",
            frozenset({"b1"}): "d"}.get(frozenset(wrong_ones), "c")


register(Exercise(
    "week02/relu-mask", "break it", "Forget ReLU's mask in backward",
    expect_choice(_observe_relu_mask, RELU_MASK_CHOICES),
    hints=("Which gradients are computed before the chain rule passes through the ReLU?",
           "dE/dW2 = delta^T h uses h, not the mask."),
    solution="my_prediction = 'b'  # the layer after the ReLU is untouched; W1 and b1 get gradient where z <= 0",
    reference="b", typical_mistakes=("a", "c"),
    explanation="Backpropagation goes from the output back: W2 and b2 get their gradients before the ReLU is "
                "reached. Without the mask, units whose z <= 0 (output 0, slope 0) still pass a gradient to "
                "W1 and b1, so those two are wrong - exactly what the gradient check against autograd catches."))
