"""Week 3's library functions against PyTorch references: the autograd graph read from grad_fn, per-image
gradients (torch.func's vmap(grad) and the batch gradient), Spearman's rank correlation (scipy), and the
"break it" experiments of course_lib.exercises.mistakes."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import data, models
from course_lib.exercises import mistakes
from course_lib.explore import autograd_graph
from course_lib.training import per_sample


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_graph_of_a_tiny_model_has_the_known_nodes_and_the_loss_node_marked():
    net = _tiny()
    X, y = torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1])
    g = autograd_graph.computation_graph(F.cross_entropy(net(X), y), net)
    assert g.op_counts() == Counter({"NllLossBackward0": 1, "LogSoftmaxBackward0": 1, "AddmmBackward0": 2,
                                     "ReluBackward0": 1, "TBackward0": 2})
    assert {(n.label, n.shape) for n in g.of_kind("parameter")} == {
        ("0.weight", (3, 4)), ("0.bias", (3,)), ("2.weight", (2, 3)), ("2.bias", (2,))}
    assert g.loss.kind == "loss" and g.loss.label == "NllLossBackward0" and g.loss.shape == () and g.loss.depth == 0
    assert [n for n in g.nodes if n.kind == "loss"] == [g.loss]
    assert not any(src == g.loss_id for src, _ in g.edges)  # nothing comes after the loss
    assert [n.label for n in g.inputs_of(g.loss_id)] == ["LogSoftmaxBackward0"]
    assert max(g.nodes, key=lambda n: n.depth).label == "0.weight"  # first layer: farthest from the loss
    assert g.of_kind("input") == []  # X needs no gradient, so autograd did not record it


def test_graph_of_the_course_model_names_every_weight_and_the_input():
    torch.manual_seed(0)
    model = models.build_model("mnist", "gap_fc")
    X = torch.randn(3, 1, 28, 28).requires_grad_(True)
    g = autograd_graph.computation_graph(F.cross_entropy(model(X), torch.tensor([1, 2, 3])), model, {"X": X})
    params = dict(model.named_parameters())
    assert {n.label: n.shape for n in g.of_kind("parameter")} == {k: tuple(p.shape) for k, p in params.items()}
    assert [(n.label, n.shape) for n in g.of_kind("input")] == [("X", (3, 1, 28, 28))]
    counts = g.op_counts()
    assert counts["ConvolutionBackward0"] == 7 and counts["NativeBatchNormBackward0"] == 7
    assert counts["MaxPool2DWithIndicesBackward0"] == 2 and counts["NllLossBackward0"] == 1
    fig = autograd_graph.draw_graph(g)
    texts = [t.get_text() for t in fig.axes[0].texts if t.get_text()]  # arrows are empty annotations
    assert "loss E = NllLoss, shape ()" in texts and "X (3, 1, 28, 28)" in texts and len(texts) == len(g.nodes)


def test_graph_needs_a_tensor_with_a_grad_fn():
    with pytest.raises(ValueError, match="no grad_fn"):
        autograd_graph.computation_graph(torch.ones(()))


def _model_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    model = models.build_model("mnist", "gap_fc")
    g = torch.Generator().manual_seed(seed)
    return model, torch.randn(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)


def test_per_sample_gradients_equal_torch_func_vmap_grad_in_eval_mode():
    from torch.func import functional_call, grad, vmap

    model, X, y = _model_and_batch()
    model.eval()  # images independent: the per-image loss is a function of that image alone
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss_one(p, x, t):
        return F.cross_entropy(functional_call(model, (p, buffers), (x[None],)), t[None])

    reference = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, X, y)
    mine = per_sample.per_sample_gradients(model, X, y)
    for name in params:
        assert mine[name].shape == (8, *params[name].shape)
        assert torch.allclose(mine[name], reference[name], atol=1e-5), name
    norms = per_sample.per_sample_grad_norms(model, X, y)
    want = torch.cat([reference[n].flatten(1) for n in params], 1).norm(dim=1)
    assert torch.allclose(norms, want, atol=1e-5)


def test_per_sample_gradients_average_to_the_batch_gradient_with_batchnorm_in_train_mode():
    model, X, y = _model_and_batch(1)
    model.train()
    grads = per_sample.per_sample_gradients(model, X, y)
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(grads[name].mean(0), p.grad, atol=1e-6, rtol=1e-4), name


def test_rank_correlation_equals_scipy_spearman_including_ties():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, generator=g), torch.randn(50, generator=g)
    assert per_sample.rank_correlation(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    tied_a, tied_b = torch.tensor([1.0, 2, 2, 3, 5, 5, 5]), torch.tensor([3.0, 1, 4, 1, 5, 9, 2])
    assert per_sample.rank_correlation(tied_a, tied_b) == pytest.approx(stats.spearmanr(tied_a, tied_b).statistic)
    assert per_sample.rank_correlation(a, a.exp()) == pytest.approx(1.0)  # monotone: ranks identical
    assert per_sample.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert per_sample.ranks(torch.tensor([10.0, 30, 20, 20])).tolist() == [1.0, 4.0, 2.5, 2.5]
    assert per_sample.top_k_overlap(torch.tensor([1.0, 5, 3, 4]), torch.tensor([0.0, 9, 8, 1]), 2) == 1
    with pytest.raises(ValueError):
        per_sample.rank_correlation(a, b[:10])


def test_forgotten_255_and_relu_mask_measure_the_bug():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    spec = data.get_spec("mnist")
    run = mistakes.forgotten_255(images, spec)
    assert run.right_max == pytest.approx((1 - spec.mean[0]) / spec.std[0], rel=1e-5)
    assert run.broken_max == pytest.approx((255 - spec.mean[0]) / spec.std[0], rel=1e-5)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(16, 784, generator=g), torch.randint(0, 10, (16,), generator=g)
    diffs = mistakes.forgotten_relu_mask(X, y)
    assert diffs["W2"] < 1e-6 and diffs["b2"] < 1e-6 and diffs["W1"] > 1e-3 and diffs["b1"] > 1e-3
    W = {"W1": torch.randn(32, 784, generator=g) * 0.05, "b1": torch.randn(32, generator=g) * 0.1,
         "W2": torch.randn(10, 32, generator=g) * 0.2, "b2": torch.zeros(10)}
    auto = {k: v.clone().requires_grad_(True) for k, v in W.items()}
    F.cross_entropy((X @ auto["W1"].T + auto["b1"]).relu() @ auto["W2"].T + auto["b2"], y).backward()
    by_hand = mistakes.two_layer_gradients(X, y, W)  # with the mask: autograd's numbers
    assert all(torch.allclose(by_hand[k], auto[k].grad, atol=1e-6) for k in W)


def test_forgotten_zero_grad_accumulates_and_leaves_the_model_alone():
    model, X, y = _model_and_batch(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(X[:4], y[:4]), (X[4:], y[4:]), (X[:4], y[:4])]
    run = mistakes.forgotten_zero_grad(model, batches)
    assert run.grad_is_running_sum and run.weights_changed
    assert run.losses_broken[:2] == pytest.approx(run.losses_right[:2])  # the same until the 2nd update
    assert run.grad_norm_broken[0] == pytest.approx(run.grad_norm_right[0])
    assert run.grad_norm_broken[-1] > run.grad_norm_right[-1]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_softmax_over_batch_and_train_mode_evaluation_show_their_symptoms():
    model, X, y = _model_and_batch(3)
    with torch.no_grad():
        y_out = model(X)
    run = mistakes.softmax_over_batch(y_out, y)
    assert torch.allclose(run.column_sums, torch.ones(10)) and not torch.allclose(run.row_sums, torch.ones(8))
    assert run.loss_right == pytest.approx(F.cross_entropy(y_out[:1], y[:1]).item())
    assert abs(run.loss_alone - run.loss_in_batch) > 1e-3
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ev = mistakes.evaluated_in_train_mode(model, X, small=4)
    assert ev.max_logit_change > 1e-4 and ev.running_mean_change > 0 and ev.eval_mode_change < 1e-5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # worked on a copy


@pytest.mark.parametrize("week", ["week01", "week02", "week03"])
def test_each_week_has_4_to_8_exercises_from_predict_to_break_it(week):
    from course_lib import exercises

    found = exercises.all_exercises(week)
    assert 4 <= len(found) <= 8, [e.id for e in found]
    order = [exercises.KINDS.index(e.kind) for e in found]
    assert order == sorted(order), "registered from predict to fill in to break it (getting harder)"
    assert {e.kind for e in found} == set(exercises.KINDS)
