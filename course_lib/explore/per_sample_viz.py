"""The picture of training/per_sample.py: per-image loss against per-image gradient norm."""
from __future__ import annotations

import torch

from ..training.per_sample import rank_correlation
from .viz import new_figure


def loss_vs_gradient_figure(losses: torch.Tensor, norms: torch.Tensor, k: int = 8, title: str = ""):
    """Scatter of per-image loss vs gradient norm; the k largest gradient norms in red, Spearman in the title."""
    fig = new_figure(6, 4)
    ax = fig.subplots()
    top = norms.argsort(descending=True)[:k]
    rest = torch.ones(len(norms), dtype=torch.bool)
    rest[top] = False
    ax.scatter(losses[rest], norms[rest], s=18, color="0.5", label="other images")
    ax.scatter(losses[top], norms[top], s=30, color="tab:red", label=f"the {k} largest ||dl_i/dW||")
    ax.set(xlabel="per-image loss l_i", ylabel="per-image gradient norm ||dl_i/dW||",
           title=title or f"Spearman rank correlation {rank_correlation(losses, norms):.2f}")
    for values, set_scale in ((losses, ax.set_xscale), (norms, ax.set_yscale)):
        if values.min() > 0 and values.max() / values.min() > 100:  # spans decades (a trained model): log
            set_scale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the data
    return fig
