import pytest
import torch

from datadiet.models import build_model, model_names


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet18"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_image_models_output_shape(name, shape):
    m = build_model(name, shape, 7, width=0.25)
    assert m(torch.randn(3, *shape)).shape == (3, 7)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_sequence_models(name):
    m = build_model(name, (1, 40), 10)
    assert m(torch.randn(2, 1, 40)).shape == (2, 10)


def test_resnet_refuses_sequences():
    with pytest.raises(ValueError, match="needs image input"):
        build_model("resnet18", (1, 40), 10)


def test_unknown_model_lists_valid():
    with pytest.raises(ValueError, match="valid: mlp, cnn, resnet18, resnet1d"):
        build_model("vit", (1, 8, 8), 10)
    assert model_names() == ["mlp", "cnn", "resnet18", "resnet1d"]


def test_resnet1d_on_sequences_only():
    import torch

    m = build_model("resnet1d", (1, 40), 10, seed=0)
    assert m(torch.randn(3, 1, 40)).shape == (3, 10)
    with pytest.raises(ValueError, match="needs sequence input"):
        build_model("resnet1d", (1, 8, 8), 10)


def test_seeded_init_and_width():
    a = build_model("cnn", (1, 28, 28), 10, seed=1)
    b = build_model("cnn", (1, 28, 28), 10, seed=1)
    c = build_model("cnn", (1, 28, 28), 10, seed=2)
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), k
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    wide = build_model("cnn", (1, 28, 28), 10, width=2)
    assert wide.features[0].weight.shape[0] == 32
    with pytest.raises(ValueError, match="width must be"):
        build_model("cnn", (1, 28, 28), 10, width=0)
