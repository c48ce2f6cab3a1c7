"""Models and heads: the contract over every head x dataset, the teaching facts, clear errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import data, models
from course_lib.errors import UnknownNameError
from course_lib.models import heads


@pytest.mark.parametrize("dataset", list(data.DATASETS))
@pytest.mark.parametrize("head", list(heads.HEADS))
def test_every_head_on_every_dataset_maps_images_to_logits(dataset, head):
    spec = data.get_spec(dataset)
    model = models.build_model(dataset, head)
    out = model(torch.randn(3, *spec.input_shape))
    assert out.shape == (3, spec.num_classes)
    out.sum().backward()  # gradients reach the first layer
    assert next(model.backbone.parameters()).grad is not None


@pytest.mark.parametrize("head", list(heads.HEADS))
@pytest.mark.parametrize("num_classes", [10, 100])
def test_heads_on_the_512x7x7_feature_map(head, num_classes):
    h = heads.make_head(head, 512, num_classes, (7, 7))
    assert h(torch.randn(2, 512, 7, 7)).shape == (2, num_classes)


def test_parameter_counts_of_the_heads():
    count = models.count_parameters
    assert count(heads.make_head("flatten_fc", 512, 10, (7, 7))) == 7 * 7 * 512 * 10 + 10
    assert count(heads.make_head("gap_fc", 512, 10)) == 512 * 10 + 10
    assert count(heads.make_head("conv1x1_gap", 512, 100)) == 512 * 100 + 100
    r = 16
    assert count(heads.make_head("conv1x1_flatten_fc", 512, 10, (7, 7))) == 512 * r + r + r * 49 * 10 + 10


def test_default_mnist_model_stays_under_8000_parameters():
    from course_lib import training

    config = training.default_config("mnist")
    model = models.build_model(config.dataset, config.head, config.backbone or None)
    # 3x3 convs without bias + BatchNorm (2 per channel), then GAP -> FC 16 -> 10
    widths = [1, 8, 8, 12, 12, 12, 14, 16]
    convs = sum(9 * a * b + 2 * b for a, b in zip(widths, widths[1:]))
    assert models.count_parameters(model) == convs + 16 * 10 + 10 == 7_966 < 8_000


@pytest.mark.parametrize("hw", [(7, 7), (3, 5), (1, 1)])
def test_gap_fc_equals_conv1x1_gap_with_shared_weights(hw):
    torch.manual_seed(0)
    gap_fc = heads.make_head("gap_fc", 512, 10)
    conv = heads.make_head("conv1x1_gap", 512, 10)
    x = torch.randn(4, 512, *hw)
    assert not torch.allclose(gap_fc(x), conv(x))  # different random weights: different logits
    heads.share_fc_weights(gap_fc, conv)
    assert torch.allclose(gap_fc(x), conv(x), atol=1e-5)
    # the class maps before pooling average to the logits (the CAM)
    assert torch.allclose(conv.class_maps(x).mean((2, 3)), gap_fc(x), atol=1e-5)


def test_fc_is_a_1x1_conv_on_a_1x1_map():
    fc = nn.Linear(512, 10)
    conv = nn.Conv2d(512, 10, 1)
    with torch.no_grad():
        conv.weight.copy_(fc.weight.view(10, 512, 1, 1))
        conv.bias.copy_(fc.bias)
    x = torch.randn(2, 512)
    assert torch.allclose(fc(x), conv(x.view(2, 512, 1, 1)).view(2, 10), atol=1e-5)


def test_vgg_tiny224_maps_224_to_512x7x7():
    net = models.make_backbone("vgg_tiny224", 3)
    assert models.feature_shape(net, (3, 224, 224)) == (512, 7, 7)
    model = models.build_model("cifar10", "flatten_fc", "vgg_tiny224", input_shape=(3, 224, 224))
    assert model.head.fc.in_features == 512 * 7 * 7  # derived from the backbone, not hard-coded


def test_reset_classifier_swaps_the_head():
    model = models.build_model("mnist", "gap_fc")
    model.reset_classifier("flatten_fc", 3)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        heads.make_head("gap_mlp", 8, 10)
    assert all(name in str(err.value) for name in heads.HEADS)
    with pytest.raises(UnknownNameError, match="mnist_small"):
        models.build_model("mnist", "gap_fc", backbone="resnet50")
    with pytest.raises(UnknownNameError, match="conv1x1_gap"):
        models.build_model("mnist", "nope")


def test_wrong_channel_counts_give_clear_errors():
    model = models.build_model("mnist", "gap_fc")
    with pytest.raises(ValueError, match=r"expects images \(N, 1, H, W\)"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="add a batch dimension"):
        model(torch.randn(1, 28, 28))
    with pytest.raises(ValueError, match="in_channels=64"):
        heads.make_head("gap_fc", 512, 10)(torch.randn(1, 64, 7, 7))
    with pytest.raises(ValueError, match="feature_hw=\\(8, 8\\)"):
        heads.make_head("flatten_fc", 512, 10, (7, 7))(torch.randn(1, 512, 8, 8))
    with pytest.raises(ValueError, match="needs feature_hw"):
        heads.make_head("flatten_fc", 512, 10)


def _empirical_receptive_field(backbone: models.ConvStack, layer: str, size: int = 64) -> int:
    """Width of the input region that changes the centre output of `layer` (avg-pool for exactness)."""
    for name, module in backbone.layers.named_children():
        if isinstance(module, nn.MaxPool2d):
            backbone.layers._modules[name] = nn.AvgPool2d(2)
    for p in backbone.parameters():
        nn.init.constant_(p, 0.1) if p.dim() > 1 else None
    backbone.eval()
    x = torch.rand(1, backbone.in_channels, size, size, requires_grad=True)
    out = backbone.feature_maps(x)[layer]
    c = out.shape[-1] // 2
    out[0, :, c, c].sum().backward()
    cols = x.grad[0].abs().sum(0).sum(0).nonzero()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("name", ["mnist_small", "cifar_net"])
def test_receptive_fields_match_the_gradient_footprint(name):
    computed = models.receptive_fields(models.make_backbone(name, 1))
    for layer, rf, _ in computed:
        if layer.startswith("conv"):
            assert _empirical_receptive_field(models.make_backbone(name, 1), layer) == rf, layer
    assert computed[0][1] == 3 and computed[1][1] == 5  # two 3x3 convs see 5x5


@pytest.mark.parametrize("dataset", list(data.DATASETS))
def test_every_data_set_names_a_registered_backbone_and_a_runnable_recipe(dataset):
    from course_lib import training

    spec = data.get_spec(dataset)
    assert spec.backbone in models.BACKBONES
    config = training.default_config(dataset)
    assert config.dataset == dataset and all(getattr(config, k) == v for k, v in spec.recipe.items())
    assert models.build_model(dataset, config.head).backbone.in_channels == spec.input_shape[0]
