"""The seed network's architecture and the model registry."""

from __future__ import annotations

import numpy as np

from omegaconf import OmegaConf

from digit_experiments.model import MODELS, build_model

from helpers import compose_config


def test_cnn_bn_is_exactly_the_seed_network() -> None:
    model = build_model({"name": "cnn_bn"})
    kinds = [type(layer).__name__ for layer in model.layers]
    block = ["Conv2D", "BatchNormalization", "Conv2D", "BatchNormalization", "MaxPooling2D", "SpatialDropout2D"]
    assert kinds == ["InputLayer", *block * 3, "Flatten", "Dense", "BatchNormalization", "Dropout", "Dense"]
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 32, 96, 96, 128, 128]
    assert [c.padding for c in convs] == ["valid"] * 4 + ["same"] * 2
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [layer.rate for layer in model.layers if type(layer).__name__ == "SpatialDropout2D"] == [0.2] * 3
    dense, output = (layer for layer in model.layers if type(layer).__name__ == "Dense")
    assert dense.units == 1050 and dense.kernel_regularizer is not None
    assert output.units == 10 and output.activation.__name__ == "softmax"
    assert model.get_layer("dense_dropout").rate == 0.5
    assert model.count_params() == 934_064


def test_the_kernel5_ensemble_member_ends_where_the_seed_network_does() -> None:
    member = compose_config(["experiment=ensemble", "ensemble_member=kernel5"]).model
    model = build_model(OmegaConf.to_container(member))
    assert model.get_layer("block1_conv1").kernel_size == (5, 5)
    assert model.get_layer("block3_pool").output.shape[1:] == (2, 2, 128)
    assert model.count_params() == 1_606_320


def test_sweep_keys_change_the_model() -> None:
    model = build_model({"name": "cnn_bn", "conv_dropout": 0.3, "dense_dropout": 0.4, "l2": 1e-3})
    assert model.get_layer("block1_dropout").rate == 0.3
    assert model.get_layer("dense_dropout").rate == 0.4
    assert float(model.get_layer("dense").kernel_regularizer.l2) == np.float32(1e-3)


def test_every_registered_model_maps_images_to_probabilities() -> None:
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    for name in MODELS.names():
        probabilities = build_model({"name": name})(images, training=False).numpy()
        assert probabilities.shape == (3, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
