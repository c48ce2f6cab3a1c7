"""Checks of the learner's model.py: head shapes and parameter counts, the measured feature size, Net."""
from __future__ import annotations

import copy

import torch
from torch import nn

from course_lib import models
from course_lib.project.plugin import CheckFailed, dataset_dims, doing, expect


def test_model_make_head(project):
    """make_head: gap_fc and flatten_fc turn (N,C,H,W) features into (N,K) logits with the right number of weights"""
    c, k, hw = 12, 7, (3, 4)
    feats = torch.randn(5, c, *hw)
    formulas = {"gap_fc": (c * k + k, "C*K + K"), "flatten_fc": (c * 12 * k + k, "C*H*W*K + K")}
    for name, (expected, formula) in formulas.items():
        call = f"make_head({name!r}, {c}, {k}, {hw})"
        with doing(call):
            head = project.model.make_head(name, c, k, hw)
        expect(isinstance(head, nn.Module), f"{call} returned {type(head).__name__}, expected an nn.Module")
        with doing(f"{call} on features {tuple(feats.shape)}"):
            out = head(feats)
        expect(tuple(out.shape) == (5, k), f"{call} turns features {tuple(feats.shape)} into shape "
               f"{tuple(out.shape)}, expected (5, {k})")
        n = models.count_parameters(head)
        expect(n == expected, f"{call} has {n:,} parameters, expected {formula} = {expected:,}")
    try:
        project.model.make_head("mlp", c, k, hw)
    except ValueError as exc:
        expect("gap_fc" in str(exc) and "flatten_fc" in str(exc),
               f"the error for an unknown head should list the valid ones (gap_fc, flatten_fc); it says {str(exc)!r}")
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CheckFailed(f"make_head('mlp', ...) raised {type(exc).__name__}: raise ValueError listing the "
                          "valid heads") from exc
    else:
        raise CheckFailed("make_head('mlp', ...) returned a module: an unknown name should raise ValueError")


def test_model_backbone(project, dataset):
    """make_backbone and feature_shape: the feature size is measured, without touching BatchNorm's statistics"""
    c, _, size = dataset_dims(dataset)
    with doing(f"make_backbone({c})"):
        backbone = project.model.make_backbone(c)
    expect(isinstance(backbone, nn.Module), f"make_backbone returned {type(backbone).__name__}, expected an nn.Module")
    before = copy.deepcopy(backbone.state_dict())
    with doing(f"feature_shape(backbone, {c}, {size})"):
        shape = project.model.feature_shape(backbone, c, size)
    changed = [k for k, v in backbone.state_dict().items() if not torch.equal(v, before[k])]
    expect(not changed, "feature_shape changed the BatchNorm running statistics: do the dry run in eval mode")
    expect(backbone.training,
           "feature_shape left the backbone in eval mode: restore the mode it had (backbone.train())")
    with torch.no_grad(), doing(f"the backbone on images (2, {c}, {size}, {size})"):
        actual = tuple(backbone.eval()(torch.zeros(2, c, size, size)).shape[1:])
    expect(isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(v, int) for v in shape),
           f"feature_shape returned {shape!r}, expected a tuple of 3 ints (C, H, W)")
    expect(shape == actual, f"feature_shape(backbone, {c}, {size}) is {shape}, but the backbone's output is {actual}")


def test_model_net(project, dataset):
    """Net: logits (N, classes) for both heads; each head's parameter count follows from the feature shape"""
    c, k, size = dataset_dims(dataset)
    x = torch.randn(8, c, size, size)
    backbone_params = {}
    for head in ("gap_fc", "flatten_fc"):
        call = f"Net({c}, {k}, {size}, head={head!r})"
        with doing(call):
            net = project.model.Net(c, k, size, head=head)
        with doing(f"{call} on images {tuple(x.shape)}"):
            out, feats = net(x), net.forward_features(x)
        expect(tuple(out.shape) == (8, k), f"{call} returns shape {tuple(out.shape)}, expected (8, {k})")
        expect(out.dtype == torch.float32, f"{call} returns {out.dtype}, expected float32")
        expect(feats.ndim == 4, f"{call}.forward_features returns shape {tuple(feats.shape)}, expected (N, C, H, W)")
        expect(isinstance(getattr(net, "head", None), nn.Module), f"{call} should keep its head as net.head")
        fc, fh, fw = feats.shape[1:]
        expected = fc * k + k if head == "gap_fc" else fc * fh * fw * k + k
        n = models.count_parameters(net.head)
        expect(n == expected, f"{call}: the head has {n:,} parameters; with features ({fc}, {fh}, {fw}) "
               f"it should have {expected:,}")
        backbone_params[head] = models.count_parameters(net) - n
    expect(len(set(backbone_params.values())) == 1,
           f"the backbone has {backbone_params} parameters depending on the head: only the head should change")


def test_model_any_size(project):
    """Net works for other image sizes and channel counts: the flattened size is derived, never typed"""
    for c, size in ((1, 28), (3, 32), (3, 40)):
        call = f"Net({c}, 10, {size}, head='flatten_fc')"
        with doing(f"{call} on images (2, {c}, {size}, {size})"):
            out = project.model.Net(c, 10, size, head="flatten_fc")(torch.randn(2, c, size, size))
        expect(tuple(out.shape) == (2, 10), f"{call} returns shape {tuple(out.shape)}, expected (2, 10)")


