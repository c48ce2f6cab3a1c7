# %% [markdown]
# # Week 2 - The entire network from scratch
#
# **Goals.** Write `y_pred = f(X, W)` with raw tensors (no `nn.Module`), compute the error and the loss,
# derive the gradients by hand, check them against PyTorch's autograd, update the weights, train;
# then run *the same* model through `course_lib` and show that both agree number for number.
# Along the way: 6 exercises (predict, fill in, break it), each checked when you run its check cell.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - He initialization: std of $W_1$ 0.0505 = $\sqrt{2/784}$. Hand-derived gradients equal autograd's (max
#   difference ~3e-8); cross-entropy's $\partial E/\partial y_{out}$ is $(p - \operatorname{onehot})/N$, a squared
#   error's is $(y_{out} - \operatorname{onehot})/N$ (both checked by autograd); one update lowers the batch
#   loss (2.72 -> 1.97).
# - Without ReLU's mask, $\partial E/\partial W_1$ and $\partial E/\partial b_1$ differ from autograd's by ~0.1
#   and ~0.04, $\partial E/\partial W_2$ and $\partial E/\partial b_2$ still agree (~1e-8): in both modes.
# - 1 epoch over the 4,096-image subset (32 steps, lr 0.1): test accuracy 85.74 % on 1,024 test images
#   (expect 80-90 %); course_lib's `evaluate` gives the same number. The 6 exercise checks say
#   "NOT ANSWERED YET" until you answer.
#
# **Expected results - full mode:**
# - First batch: loss 2.85 -> 2.01 after one update.
# - 5 epochs over 60,000 images (2,345 steps, lr 0.1): test accuracy 96.96 % on the 10,000 test images,
#   13.1 s of training; course_lib's `evaluate` gives the same 96.96 %.
# - Measured on: torch 2.14.1+cu130, AMD EPYC (avx512_bf16, no AMX), 2 CPU threads, no GPU (2026-11-30).
#   The 2 cores were shared with other jobs during the run (load average 6-9), so wall times are upper bounds.

# %%
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import data, exercises, models, training
from course_lib.exercises import mistakes
from course_lib.explore import viz
from course_lib.models import heads

FAST = data.is_fast_mode()
device = training.get_device()
print(training.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)
train_loader, test_loader = data.get_loaders("mnist", batch_size=128)  # fast mode: subsets
print(f"{train_loader.num_samples} training images, {test_loader.num_samples} test images")

# %% [markdown]
# ## 1. The model: $y_{out} = f(X, W)$
#
# A two-layer network on the flattened image $X \in \mathbb{R}^{N \times 784}$ with $H$ hidden units:
#
# $$z = X W_1^\top + b_1,\quad h = \max(z, 0),\quad y_{out} = h W_2^\top + b_2 \in \mathbb{R}^{N \times 10}.$$
#
# Its weights $W = (W_1, b_1, W_2, b_2)$ are plain tensors.
#
# > **Logits.** The raw scores $y_{out}$, one per class, before any softmax: any real numbers, larger = more
# > likely. Softmax turns a row of logits into probabilities; the loss and its gradient are taken with
# > respect to the logits. [Week 3](week03_batch_life_cycle.ipynb) derives that gradient step by step.
#
# > **He initialization.** Random starting weights with standard deviation $\sqrt{2/\text{fan-in}}$ ($W_1$:
# > fan-in 784). A ReLU zeroes about half of its inputs, so the factor 2 keeps the size of the activations
# > about the same from layer to layer (He et al. 2015); the output layer, without a ReLU, uses
# > $\sqrt{1/\text{fan-in}}$. The cell below checks the standard deviations.

# %%
H = 64  # hidden units
torch.manual_seed(0)
W = {
    "W1": torch.randn(H, 784) * (2 / 784) ** 0.5,  # He initialization for the ReLU layer
    "b1": torch.zeros(H),
    "W2": torch.randn(10, H) * (1 / H) ** 0.5,
    "b2": torch.zeros(10),
}
W = {k: v.to(device) for k, v in W.items()}
print({k: tuple(v.shape) for k, v in W.items()}, "->", sum(v.numel() for v in W.values()), "parameters")
print(f"std of W1 {W['W1'].std():.4f} (He: sqrt(2/784) = {(2 / 784) ** 0.5:.4f}), "
      f"std of W2 {W['W2'].std():.4f} (sqrt(1/{H}) = {(1 / H) ** 0.5:.4f})")
assert abs(W["W1"].std() / (2 / 784) ** 0.5 - 1) < 0.05


def forward(X, W):
    """Images (N,1,28,28) -> class scores (N,10), plus what backward needs."""
    X = X.flatten(1)  # (N,1,28,28) -> (N,784)
    z = X @ W["W1"].T + W["b1"]  # (N,784) @ (784,H) -> (N,H)
    h = z.clamp(min=0)  # ReLU
    y_out = h @ W["W2"].T + W["b2"]  # (N,H) @ (H,10) -> (N,10)
    return y_out, (X, z, h)


X, y_actual = next(iter(train_loader))
X, y_actual = X.to(device), y_actual.to(device)
y_out, cache = forward(X, W)
print("X", tuple(X.shape), "-> y_out", tuple(y_out.shape))

# %% [markdown]
# ### Exercise 1 - Predict: how many parameters with 32 hidden units?
#
# The same network with $H = 32$ instead of 64: how many numbers (weights and biases) does it learn?

# %%
my_answer = ...  # a whole number

# %%
exercises.check("week02/parameters", my_answer)


# %% [markdown]
# ## 2. Error and loss
#
# ### Exercise 2 - Predict: whose gradient is $y_{out} - \operatorname{onehot}(y)$?
#
# Before reading on: for which loss is $\partial E/\partial y_{out} = (y_{out} - \operatorname{onehot}(y))/N$?
#
# - (a) the mean cross-entropy of $\operatorname{softmax}(y_{out})$ against the one-hot labels
# - (b) the mean squared error $E = \frac{1}{2N}\sum_i \lVert y_{out,i} - \operatorname{onehot}(y_i)\rVert^2$ on the raw outputs
# - (c) both
# - (d) neither

# %%
my_answer = ...  # "a", "b", "c" or "d"

# %%
exercises.check("week02/which-error", my_answer)

# %% [markdown]
# Softmax turns the scores into probabilities $p = \operatorname{softmax}(y_{out})$. The **loss** (one number)
# is the mean cross-entropy
#
# $$E = -\frac{1}{N}\sum_i \log p_{i, y_i}.$$
#
# The **error** of each image is $p - \operatorname{onehot}(y_{actual})$: the gradient of that image's
# cross-entropy with respect to its logits (divided by $N$, it is $\partial E/\partial y_{out}$). It is not
# $y_{out} - \operatorname{onehot}(y)$: that would be the gradient of a squared error
# $\frac12\lVert y_{out} - \operatorname{onehot}(y)\rVert^2$ on the raw outputs, a different loss. The cell
# below checks both against autograd; week 3 derives them step by step.

# %%
def loss_and_error(y_out, y_actual):
    shifted = y_out - y_out.max(dim=1, keepdim=True).values  # same softmax, no overflow
    log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # log softmax
    E = -log_p[torch.arange(len(y_actual)), y_actual].mean()
    error = log_p.exp() - nn.functional.one_hot(y_actual, 10)  # p - onehot, (N,10)
    return E, error


E, error = loss_and_error(y_out, y_actual)
print(f"loss E = {E.item():.4f} (chance level log(10) = {torch.log(torch.tensor(10.)).item():.4f})")
print("error of image 0:", error[0].cpu().numpy().round(3), "| row sum", error[0].sum().item())
assert torch.allclose(E, nn.functional.cross_entropy(y_out, y_actual))  # PyTorch agrees

# which loss has which gradient? autograd on both, w.r.t. the logits
onehot = nn.functional.one_hot(y_actual, 10).float()
logits = y_out.detach().clone().requires_grad_(True)
nn.functional.cross_entropy(logits, y_actual).backward()
assert torch.allclose(logits.grad, error / len(y_actual), atol=1e-6)  # cross-entropy: (p - onehot) / N
logits_sq = y_out.detach().clone().requires_grad_(True)
(0.5 * ((logits_sq - onehot) ** 2).sum(1).mean()).backward()
assert torch.allclose(logits_sq.grad, (y_out - onehot) / len(y_actual), atol=1e-6)  # squared error: (y_out - onehot) / N
print("autograd: cross-entropy -> (p - onehot)/N, squared error -> (y_out - onehot)/N; they differ by up to "
      f"{(logits.grad - logits_sq.grad).abs().max():.3f}")


# %% [markdown]
# ### Exercise 3 - Fill in: the softmax-cross-entropy gradient
#
# Write `ce_grad(y_out, y)`: $\partial E/\partial y_{out}$ for the mean cross-entropy $E$ over $N$ images,
# shape `(N, K)`, with raw tensor operations (no autograd). The check compares it with autograd.

# %%
def ce_grad(y_out, y):
    ...  # your code: return a (N, K) tensor


# %%
exercises.check("week02/ce-grad", ce_grad)


# %% [markdown]
# ## 3. Gradients by hand (backpropagation)
#
# With $\delta = \partial E / \partial y_{out} = (p - \operatorname{onehot}(y))/N$ (the error divided by $N$),
# the chain rule gives, layer by layer from the output back:
#
# $$\frac{\partial E}{\partial W_2} = \delta^\top h,\quad \frac{\partial E}{\partial b_2} = \sum_i \delta_i,\quad
# \frac{\partial E}{\partial h} = \delta W_2,\quad \frac{\partial E}{\partial z} = \frac{\partial E}{\partial h}
# \odot [z > 0],$$
# $$\frac{\partial E}{\partial W_1} = \Big(\frac{\partial E}{\partial z}\Big)^\top X,\quad
# \frac{\partial E}{\partial b_1} = \sum_i \frac{\partial E}{\partial z_i}.$$

# ### Exercise 4 - Predict: the shape of $\partial E/\partial W_1$
#
# $W_1$ is `(64, 784)` and the batch holds 128 images. What shape does $\partial E/\partial W_1$ have?

# %%
my_answer = ...  # a tuple

# %%
exercises.check("week02/grad-shape", my_answer)


# %%
def backward(error, cache, W):
    X, z, h = cache
    delta = error / len(X)  # dE/dy_out, (N,10)
    dh = delta @ W["W2"]  # (N,10) @ (10,H) -> (N,H)
    dz = dh * (z > 0)  # ReLU lets the gradient through where z > 0
    return {"W1": dz.T @ X, "b1": dz.sum(0), "W2": delta.T @ h, "b2": delta.sum(0)}


grads = backward(error, cache, W)

# autograd's answer for the same weights and batch
W_auto = {k: v.clone().requires_grad_(True) for k, v in W.items()}
nn.functional.cross_entropy(forward(X, W_auto)[0], y_actual).backward()
for k in W:
    diff = (grads[k] - W_auto[k].grad).abs().max().item()
    print(f"dE/d{k:2s} {str(tuple(grads[k].shape)):10s} max |by hand - autograd| = {diff:.1e}")
    assert torch.allclose(grads[k], W_auto[k].grad, atol=1e-6), k
print("hand-derived gradients == autograd")

# %% [markdown]
# ### Exercise 5 - Fill in: a linear layer's $\partial E/\partial W$
#
# For $y = XW^\top + b$ with $X$ `(N, in)` and $\delta = \partial E/\partial y$ `(N, out)`, write
# `linear_grad_W(X, delta)` returning $\partial E/\partial W$, shape `(out, in)`.

# %%
def linear_grad_W(X, delta):
    ...  # your code


# %%
exercises.check("week02/linear-grad", linear_grad_W)

# %% [markdown]
# ### Exercise 6 - Break it: forget ReLU's mask
#
# In `backward`, replace `dz = dh * (z > 0)` by `dz = dh`. Compared with autograd, what happens?
#
# - (a) all four gradients still equal autograd's
# - (b) dE/dW2 and dE/db2 still equal autograd's; dE/dW1 and dE/db1 do not
# - (c) all four gradients differ from autograd's
# - (d) only dE/db1 differs
#
# Predict, then run the cell after it: `mistakes.forgotten_relu_mask` runs course_lib's copy of this
# `backward` (checked against ours first) without the mask, on this batch with random weights of the same
# shapes, and compares each gradient with autograd's.

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
library_backward = mistakes.two_layer_gradients(X, y_actual, W)  # course_lib's backward, with the mask
assert all(torch.allclose(library_backward[k], grads[k], atol=1e-6) for k in W)  # == ours
for name, diff in mistakes.forgotten_relu_mask(X.cpu(), y_actual.cpu(), hidden=H).items():
    print(f"without the mask: max |dE/d{name} - autograd| = {diff:.1e}")

# %%
exercises.check("week02/relu-mask", my_prediction)

# %% [markdown]
# ## 4. The update, then a whole training loop
#
# Gradient descent moves every weight a small step against its gradient: $W \leftarrow W - \eta\,\partial E/\partial W$.

# %%
lr = 0.1
W_new = {k: W[k] - lr * grads[k] for k in W}
E_new, _ = loss_and_error(forward(X, W_new)[0], y_actual)
print(f"loss on this batch: {E.item():.4f} before the update, {E_new.item():.4f} after")
assert E_new < E


# %%
def accuracy(W, loader) -> float:
    right = total = 0
    for Xb, yb in loader:
        Xb, yb = Xb.to(device), yb.to(device)
        right += (forward(Xb, W)[0].argmax(1) == yb).sum().item()  # argmax: the predicted class
        total += len(yb)
    return right / total


epochs = 1 if FAST else 5
W_trained = {k: v.clone() for k, v in W.items()}
losses, start = [], time.perf_counter()
for epoch in range(epochs):
    train_loader.set_epoch(epoch)
    for Xb, yb in tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False):
        Xb, yb = Xb.to(device), yb.to(device)
        y_out_b, cache_b = forward(Xb, W_trained)  # forward
        E_b, error_b = loss_and_error(y_out_b, yb)  # error and loss
        g = backward(error_b, cache_b, W_trained)  # gradients by hand
        for k in W_trained:  # update
            W_trained[k] -= lr * g[k]
        losses.append(E_b.item())
seconds = time.perf_counter() - start
acc_scratch = accuracy(W_trained, test_loader)
print(f"{epochs} epoch(s), {len(losses)} steps in {seconds:.2f} s: test accuracy {acc_scratch:.2%}")
viz.line_plot({"training loss": losses}, "from-scratch training", "step", "cross-entropy loss")

# %% [markdown]
# ## 5. The same model through course_lib
#
# A fully connected layer is a 1x1 convolution on a 1x1 map (week 5 proves it in general). So our network
# is exactly the `conv1x1_flatten_fc` head of `course_lib.models.heads` applied to the image seen as a
# `(784, 1, 1)` map: 1x1 conv (784 -> H) = $W_1$, ReLU, flatten, Linear (H -> 10) = $W_2$.
# We copy our weights in and check forward pass, loss, gradients, update and accuracy.

# %%
head = heads.make_head("conv1x1_flatten_fc", 784, 10, feature_hw=(1, 1), reduced_channels=H)
assert models.count_parameters(head) == sum(v.numel() for v in W.values())  # 784*H + H + H*10 + 10
net = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (784, 1, 1)), head).to(device)  # (N,1,28,28) -> (N,784,1,1)
with torch.no_grad():
    head.reduce.weight.copy_(W["W1"].view(H, 784, 1, 1))
    head.reduce.bias.copy_(W["b1"])
    head.fc.weight.copy_(W["W2"])
    head.fc.bias.copy_(W["b2"])
assert torch.allclose(net(X), y_out, atol=1e-5)
print("forward: course_lib head == from scratch, max diff", (net(X) - y_out).abs().max().item())

# one step of course_lib's batch life cycle with plain SGD == our hand-made update
opt = torch.optim.SGD(net.parameters(), lr=lr)
step = training.train_step(net, (X, y_actual), nn.CrossEntropyLoss(), opt, device)
assert abs(step.loss.item() - E.item()) < 1e-5
assert torch.allclose(head.reduce.weight.view(H, 784), W_new["W1"], atol=1e-6)
assert torch.allclose(head.fc.weight, W_new["W2"], atol=1e-6)
assert torch.allclose(head.fc.bias, W_new["b2"], atol=1e-6)
print(f"train_step: loss {step.loss.item():.4f} == {E.item():.4f}; updated weights == W - lr * grad")

# %%
with torch.no_grad():  # the trained from-scratch weights, evaluated by course_lib
    head.reduce.weight.copy_(W_trained["W1"].view(H, 784, 1, 1))
    head.reduce.bias.copy_(W_trained["b1"])
    head.fc.weight.copy_(W_trained["W2"])
    head.fc.bias.copy_(W_trained["b2"])
result = training.evaluate(net, test_loader, device)
print(f"test accuracy: course_lib evaluate {result.accuracy:.2%}, from scratch {acc_scratch:.2%}")
assert abs(result.accuracy - acc_scratch) < 1e-3
assert result.accuracy > (0.6 if FAST else 0.95)
viz.bar_chart({c: a for c, a in zip(data.get_spec("mnist").classes, result.per_class_accuracy)},
              "test accuracy per digit (from-scratch weights)", "accuracy", fmt="{:.2f}")

# %% [markdown] tags=["summary"]
# ## Summary
#
# - A network is a function $y_{out} = f(X, W)$; here $f(X) = \max(XW_1^\top + b_1, 0)\,W_2^\top + b_2$.
# - Loss $E = -\frac1N \sum_i \log p_{i,y_i}$ (cross-entropy on the logits $y_{out}$), a single number.
#   Error $= \operatorname{softmax}(y_{out}) - \operatorname{onehot}(y)$: the gradient of each image's
#   cross-entropy with respect to its logits. ($y_{out} - \operatorname{onehot}(y)$ is the gradient of a
#   squared error $\frac12\lVert y_{out} - \operatorname{onehot}(y)\rVert^2$ instead: a different loss.)
# - Backpropagation = chain rule from the output back: $\delta = \text{error}/N$,
#   $\partial E/\partial W_2 = \delta^\top h$, $\partial E/\partial h = \delta W_2$,
#   $\partial E/\partial z = \partial E/\partial h \odot [z>0]$, $\partial E/\partial W_1 = (\partial E/\partial z)^\top X$;
#   autograd computes the same numbers.
# - Update: $W \leftarrow W - \eta\, \partial E/\partial W$; prediction: $\arg\max$ of each row of $y_{out}$.
# - A fully connected layer is a 1x1 convolution on a 1x1 map, so the from-scratch network *is*
#   course_lib's `conv1x1_flatten_fc` head on a `(784, 1, 1)` input.

# %% tags=["summary"]
import torch
from torch import nn

from course_lib import models
from course_lib.models import heads

# hand-derived gradient of the cross-entropy w.r.t. the scores == autograd's: (softmax - onehot) / N
y_out = torch.randn(4, 10, requires_grad=True)
y = torch.tensor([3, 1, 4, 1])
nn.functional.cross_entropy(y_out, y).backward()
by_hand = (y_out.softmax(1) - nn.functional.one_hot(y, 10)) / 4
print("dE/dy_out by hand == autograd:", torch.allclose(by_hand, y_out.grad, atol=1e-6))
y_sq = y_out.detach().clone().requires_grad_(True)  # a squared error on the raw outputs instead
(0.5 * ((y_sq - nn.functional.one_hot(y, 10)) ** 2).sum(1).mean()).backward()
print("squared error: dE/dy_out == (y_out - onehot) / N:",
      torch.allclose(y_sq.grad, (y_out.detach() - nn.functional.one_hot(y, 10)) / 4, atol=1e-6))
head = heads.make_head("conv1x1_flatten_fc", 784, 10, feature_hw=(1, 1), reduced_channels=64)
print("parameters of the 784-64-10 network:", models.count_parameters(head), "= 784*64 + 64 + 64*10 + 10")
