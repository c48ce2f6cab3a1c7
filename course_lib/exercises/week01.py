"""Week 1 exercises: images as tensors, normalization, Dataset and DataLoader.

Every answer is computed when it is checked (shapes by a real DataLoader, statistics by
`data.compute_stats`, the normalization by `data.normalize`), never typed in here.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import data
from . import mistakes
from .core import Exercise, expect_choice, expect_function, expect_number, expect_shape, register


def _first_batch_shape() -> tuple[int, ...]:
    """A real DataLoader over MNIST-shaped tensors (zeros: the shape is all that matters)."""
    shape = data.get_spec("mnist").input_shape
    ds = TensorDataset(torch.zeros(100, *shape, dtype=torch.uint8), torch.zeros(100, dtype=torch.int64))
    X, _ = next(iter(DataLoader(ds, batch_size=64)))
    return tuple(X.shape)


register(Exercise(
    "week01/batch-shape", "predict", "The shape of one batch",
    expect_shape(_first_batch_shape, why="(batch, channels, height, width): one grey channel, 28 x 28 pixels."),
    hints=("A DataLoader stacks `batch_size` items along a new first dimension.",
           "One MNIST image is (C, H, W) with a single grey channel."),
    solution="my_answer = (64, 1, 28, 28)  # (B, C, H, W)",
    reference=(64, 1, 28, 28), typical_mistakes=((64, 28, 28), (1, 28, 28), (28, 28, 64)),
    explanation="The loader stacks 64 tensors of shape (1, 28, 28); PyTorch keeps the channel dimension even "
                "for grey images, so convolutions always see (N, C, H, W)."))


def _black_pixel() -> float:
    return float(data.normalize(torch.zeros(1, 1, 1, 1, dtype=torch.uint8), data.get_spec("mnist")))


register(Exercise(
    "week01/black-pixel", "predict", "A black pixel after normalization",
    expect_number(_black_pixel, abs_tol=0.01,
                  why=lambda v: "(0/255 - mean) / std: most of an MNIST image is this value."),
    hints=("Black is 0, so x/255 is 0 too.", "What is left is -mean / std, with MNIST's mean and std."),
    solution="spec = data.get_spec('mnist')\nmy_answer = (0 - spec.mean[0]) / spec.std[0]  # about -0.42",
    reference=_black_pixel(), typical_mistakes=(0.0, -0.1307, 2.82),
    explanation="Normalization shifts by the mean and divides by the std, so the background (black) is "
                "below 0 and the strokes (white, 255) are at (1 - mean) / std, about 2.8."))


PEAK_CHOICES = {
    "a": "at 0: normalization centres every image",
    "b": "below 0, at the value of a black pixel (-mean / std)",
    "c": "at the value of a white pixel ((1 - mean) / std)",
    "d": "nowhere in particular: the values are spread evenly",
}


def explorer_dataset() -> str:
    """The data set week 1's explorer shows: Fashion-MNIST when present, else MNIST (the lesson's fallback)."""
    return "fashion_mnist" if data.is_available("fashion_mnist") else "mnist"


def _histogram_peak() -> str:
    """Where the normalized values of the explorer's first 100 images pile up (the tallest bin)."""
    name = explorer_dataset()
    spec = data.get_spec(name)
    x = data.normalize(data.load_tensors(name, train=True)[0][:100], spec).flatten()
    counts = torch.histc(x, bins=50, min=float(x.min()), max=float(x.max()))
    width = (float(x.max()) - float(x.min())) / 50
    peak = float(x.min()) + (int(counts.argmax()) + 0.5) * width
    black, white = -spec.mean[0] / spec.std[0], (1 - spec.mean[0]) / spec.std[0]
    if counts.max() < 2 * counts.mean():
        return "d"
    candidates = {"a": 0.0, "b": black, "c": white}
    return min(candidates, key=lambda k: abs(candidates[k] - peak))


register(Exercise(
    "week01/histogram-peak", "predict", "Where is the tallest bar of the explorer's histogram?",
    expect_choice(_histogram_peak, PEAK_CHOICES),
    hints=("Most pixels of these images are background.", "What colour is the background, and what does "
                                                         "(x/255 - mean) / std make of it?"),
    solution="my_answer = 'b'  # most pixels are black background: (0 - mean) / std",
    reference="b", typical_mistakes=("a", "c"),
    explanation="Normalization makes the mean over all pixels 0, but the values are not spread evenly around "
                "it: most pixels are black background and all land on -mean/std (MNIST -0.42, Fashion-MNIST "
                "-0.81); the few bright stroke pixels pull the mean up to 0."))


def _normalize_reference(x: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    spec = data.get_spec("cifar10")
    assert tuple(mean) == tuple(spec.mean) and tuple(std) == tuple(spec.std)
    return data.normalize(x, spec)


def _cifar_like_batch() -> tuple:
    spec = data.get_spec("cifar10")  # 3 channels: a per-channel mean must broadcast over (N, C, H, W)
    return torch.randint(0, 256, (4, 3, 8, 5), dtype=torch.uint8), spec.mean, spec.std


def normalize_batch(images, mean, std):
    """uint8 (N,C,H,W) -> float (N,C,H,W) with (x/255 - mean_c) / std_c for each channel c."""
    mean = torch.tensor(mean).view(1, -1, 1, 1)  # (C,) -> (1,C,1,1): broadcast over N, H, W
    std = torch.tensor(std).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std


register(Exercise(
    "week01/normalize", "fill in", "Normalize a batch with the data set's mean and std",
    expect_function(_normalize_reference, _cifar_like_batch, atol=1e-5, name="normalize_batch"),
    hints=("Convert to float and divide by 255 first: the statistics are for pixel/255.",
           "mean and std have one value per channel: reshape them to (1, C, 1, 1) so they broadcast."),
    solution=normalize_batch,
    typical_mistakes=(
        lambda images, mean, std: (images.float() - torch.tensor(mean).view(1, -1, 1, 1))
        / torch.tensor(std).view(1, -1, 1, 1),  # forgot / 255
        lambda images, mean, std: (images.float() / 255 - mean[0]) / std[0],  # channel 0's numbers everywhere
    ),
    explanation="data.normalize does exactly this; checked on 3-channel CIFAR-shaped batches, where a mean "
                "of shape (C,) would broadcast over the last dimension (W) unless reshaped."))


def channel_stats(images):
    """uint8 (N,C,H,W) -> tensor (2, C): row 0 the per-channel means, row 1 the stds, of pixel/255."""
    x = images.double() / 255
    x = x.transpose(0, 1).flatten(1)  # (N,C,H,W) -> (C,N,H,W) -> (C, N*H*W)
    return torch.stack([x.mean(1), x.std(1, unbiased=False)])


register(Exercise(
    "week01/channel-stats", "fill in", "Compute the per-channel statistics",
    expect_function(lambda x: torch.tensor(data.compute_stats(x), dtype=torch.float64),
                    lambda: (torch.randint(0, 256, (6, 3, 5, 4), dtype=torch.uint8),), atol=1e-6,
                    name="channel_stats"),
    hints=("Work on pixel/255 in float64.",
           "Put the channel first and flatten the rest: (C, N*H*W); then mean and std over dim 1.",
           "The registry uses the population std: unbiased=False."),
    solution=channel_stats,
    typical_mistakes=(
        lambda x: torch.stack([(x.double() / 255).transpose(0, 1).flatten(1).mean(1),
                               (x.double() / 255).transpose(0, 1).flatten(1).std(1)]),  # unbiased std
        lambda x: torch.stack([(x.double() / 255).mean((0, 2, 3)),
                               (x.double() / 255).std((2, 3), unbiased=False).mean(0)]),  # mean of per-image stds
    ),
    explanation="One mean and one std per channel over every pixel of every image, as data.compute_stats; "
                "the mean of per-image stds is smaller, because it ignores how images differ from each other."))


BREAK_255_CHOICES = {
    "a": "nothing changes: the values are the same",
    "b": "the values are about 255 times too large: mean around 100 and a maximum in the hundreds",
    "c": "every value becomes 0",
    "d": "PyTorch raises an error about the dtype",
}


def _observe_forgotten_255() -> str:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 1, 28, 28), generator=g, dtype=torch.uint8)
    try:
        run = mistakes.forgotten_255(images, data.get_spec("mnist"))
    except (RuntimeError, TypeError):
        return "d"
    if run.broken_max == 0:
        return "c"
    return "b" if run.broken_max > 100 and run.right_max < 10 else "a"


register(Exercise(
    "week01/forget-255", "break it", "Forget the division by 255",
    expect_choice(_observe_forgotten_255, BREAK_255_CHOICES),
    hints=("The mean and std were computed for pixel/255, in 0..1.",
           "Subtracting 0.13 from a value of 255 barely changes it."),
    solution="my_prediction = 'b'  # the inputs are ~255x too large, far from mean 0 / std 1",
    reference="b", typical_mistakes=("a", "d"),
    explanation="Without /255 a white pixel becomes (255 - 0.13) / 0.31, about 827 instead of 2.8: the "
                "network's first layer sees inputs hundreds of times larger than it was initialized for."))
