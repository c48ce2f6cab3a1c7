"""The computation graph autograd records for one forward pass, read from the loss's `grad_fn` chain.

`computation_graph(loss, names)` walks `loss.grad_fn` back through `next_functions` and returns the graph
as plain data: one `Node` per autograd operation (`ConvolutionBackward0`, ...) and per leaf tensor (a
weight, or the input when it requires a gradient), edges in the direction of the forward pass, and the
loss node marked. `draw_graph(graph)` draws it with matplotlib (no graphviz), inputs at the top and the
loss at the bottom. Autograd records only what needs a gradient: an input X shows up only when
`X.requires_grad` is True.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import nn

from .viz import new_figure

KINDS = ("loss", "op", "parameter", "input")
_COLOURS = {"loss": "#f4a582", "op": "#d1e5f0", "parameter": "#d9f0d3", "input": "#fee08b"}


@dataclass(frozen=True)
class Node:
    """One vertex: an autograd operation or a leaf tensor."""

    id: int
    label: str  # the operation's class name ("AddmmBackward0") or the leaf's name ("fc.weight")
    kind: str  # loss | op | parameter | input
    shape: tuple[int, ...] | None  # leaves and the loss: the tensor's shape; operations: None
    depth: int  # the longest path from this node to the loss (the loss is 0)


@dataclass
class Graph:
    """Nodes and forward-direction edges (src feeds dst) of one recorded computation."""

    nodes: list[Node]
    edges: list[tuple[int, int]]
    loss_id: int = 0
    _by_id: dict[int, Node] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {n.id: n for n in self.nodes}

    def node(self, node_id: int) -> Node:
        return self._by_id[node_id]

    @property
    def loss(self) -> Node:
        """The loss node: the one value backward() starts from."""
        return self._by_id[self.loss_id]

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def op_counts(self) -> Counter:
        """How often each operation appears, e.g. {'ConvolutionBackward0': 7, ...} (loss included)."""
        return Counter(n.label for n in self.nodes if n.kind in ("op", "loss"))

    def inputs_of(self, node_id: int) -> list[Node]:
        """The nodes whose values flow into `node_id`."""
        return [self._by_id[s] for s, d in self.edges if d == node_id]


def computation_graph(loss: torch.Tensor, names: nn.Module | Mapping[str, torch.Tensor] | None = None,
                      inputs: Mapping[str, torch.Tensor] | None = None) -> Graph:
    """The graph autograd recorded from the leaves to `loss` (a tensor with a grad_fn).

    `names` names the leaves: a module (its named_parameters) or {name: tensor}; `inputs` names leaves
    that are data rather than weights (e.g. {"X": X} with X.requires_grad_()). Unnamed leaves are "leaf".
    """
    if loss.grad_fn is None:
        raise ValueError("this tensor has no grad_fn: compute it from tensors that require gradients, "
                         "outside torch.no_grad()")
    named = dict(names.named_parameters()) if isinstance(names, nn.Module) else dict(names or {})
    leaf_names = {id(t): (n, "parameter") for n, t in named.items()}
    leaf_names.update({id(t): (n, "input") for n, t in (inputs or {}).items()})

    ids: dict[object, int] = {}  # autograd node -> our id, in the order met from the loss
    edges: set[tuple[int, int]] = set()
    stack = [loss.grad_fn]
    ids[loss.grad_fn] = 0
    while stack:
        fn = stack.pop()
        for nxt, _ in fn.next_functions:
            if nxt is None:  # an input of the op that needs no gradient (data, an integer label, ...)
                continue
            if nxt not in ids:
                ids[nxt] = len(ids)
                stack.append(nxt)
            edges.add((ids[nxt], ids[fn]))
    depth = _longest_path_to_root(len(ids), edges)
    nodes = []
    for fn, i in ids.items():
        variable = getattr(fn, "variable", None)  # AccumulateGrad nodes hold their leaf tensor
        if i == 0:
            nodes.append(Node(i, type(fn).__name__, "loss", tuple(loss.shape), 0))
        elif variable is not None:
            name, kind = leaf_names.get(id(variable), ("leaf", "parameter"))
            nodes.append(Node(i, name, kind, tuple(variable.shape), depth[i]))
        else:
            nodes.append(Node(i, type(fn).__name__, "op", None, depth[i]))
    return Graph(nodes, sorted(edges), 0)


def _longest_path_to_root(n: int, edges: set[tuple[int, int]]) -> list[int]:
    """For each node, the number of edges on the longest forward path from it to node 0."""
    consumers: dict[int, list[int]] = {i: [] for i in range(n)}
    for src, dst in edges:
        consumers[src].append(dst)
    depth: dict[int, int] = {0: 0}

    def visit(i: int) -> int:  # iterative DFS (deep nets would overflow Python's recursion)
        todo = [i]
        while todo:
            j = todo[-1]
            pending = [c for c in consumers[j] if c not in depth]
            if pending:
                todo.extend(pending)
                continue
            todo.pop()
            depth[j] = 1 + max(depth[c] for c in consumers[j]) if consumers[j] else 0
        return depth[i]

    return [visit(i) for i in range(n)]


def short_label(node: Node) -> str:
    """A node's label for drawing: `Convolution` for ConvolutionBackward0, `name (shape)` for leaves."""
    if node.kind in ("parameter", "input"):
        return f"{node.label} {tuple(node.shape)}" if node.shape is not None else node.label
    label = node.label
    for suffix in ("Backward0", "Backward1", "Backward"):
        if label.endswith(suffix):
            label = label[: -len(suffix)]
            break
    return f"loss E = {label}, shape {tuple(node.shape)}" if node.kind == "loss" else label


def layout(graph: Graph) -> dict[int, tuple[float, float]]:
    """(x, y) per node: one row per depth (the leaves far from the loss at the top, the loss at the
    bottom), operations first in each row, then leaves."""
    rows: dict[int, list[Node]] = {}
    for n in graph.nodes:
        rows.setdefault(n.depth, []).append(n)
    pos = {}
    for d, row in rows.items():
        row.sort(key=lambda n: (n.kind not in ("op", "loss"), n.id))
        for x, n in enumerate(row):
            pos[n.id] = (float(x), float(d))
    return pos


def draw_graph(graph: Graph, title: str = "", width: float = 9.0, fontsize: float = 7.5) -> Figure:
    """The graph as boxes and arrows in the forward direction; the loss node in orange at the bottom."""
    pos = layout(graph)
    max_depth = max(y for _, y in pos.values())
    max_x = max(x for x, _ in pos.values())
    fig = new_figure(width, 0.42 * (max_depth + 1) + 1.4)
    ax = fig.subplots()
    for src, dst in graph.edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="0.45", lw=0.8, shrinkA=9, shrinkB=9,
                                    connectionstyle="arc3,rad=0.0" if x0 == x1 else "arc3,rad=-0.15"))
    for n in graph.nodes:
        x, y = pos[n.id]
        ax.text(x, y, short_label(n), ha="center", va="center", fontsize=fontsize,
                fontweight="bold" if n.kind == "loss" else "normal",
                bbox=dict(boxstyle="round,pad=0.3", fc=_COLOURS[n.kind],
                          ec="#b2182b" if n.kind == "loss" else "0.5", lw=2 if n.kind == "loss" else 0.6))
    ax.set_xlim(-0.8, max_x + 0.8)
    ax.set_ylim(-0.7, max_depth + 0.7)  # depth 0 (the loss) at the bottom, the inputs at the top
    ax.axis("off")
    handles = [Patch(fc=_COLOURS[k], ec="0.5", label=text) for k, text in
               (("input", "input data"), ("parameter", "weights W (leaves)"), ("op", "operation"),
                ("loss", "the loss node"))]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    counts = Counter(n.kind for n in graph.nodes)
    fig.suptitle(title or f"{counts['op'] + counts['loss']} operations, {counts['parameter']} weight tensors")
    return fig
