"""The optimizer, schedule and freeze options reach Keras as the studies describe them."""

import keras
import numpy as np
import pytest

from sasirangan.config import TrainConfig
from sasirangan.model import build_model, head_backbone_layers
from sasirangan.optimizers import make_optimizer
from sasirangan.checkpoints import RunCheckpoint
from sasirangan.train import _callbacks, unfreeze


@pytest.mark.parametrize("name,kind", [("adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW),
                                       ("sgd", keras.optimizers.SGD), ("rmsprop", keras.optimizers.RMSprop)])
def test_optimizer_choice(name, kind):
    optimizer = make_optimizer(TrainConfig(optimizer=name, momentum=0.5), 1e-2)
    assert type(optimizer) is kind
    if name in ("sgd", "rmsprop"):
        assert optimizer.momentum == 0.5


def test_exponential_schedule_multiplies_the_rate_every_epoch():
    optimizer = make_optimizer(TrainConfig(schedule="exponential", decay_rate=0.5), 0.1, steps_per_epoch=10, epochs=5)
    schedule = optimizer._learning_rate
    np.testing.assert_allclose([float(schedule(step)) for step in (0, 10, 20)], [0.1, 0.05, 0.025], rtol=1e-6)


def test_cosine_schedule_reaches_zero_at_the_end_of_the_phase():
    schedule = make_optimizer(TrainConfig(schedule="cosine"), 0.1, steps_per_epoch=4, epochs=5)._learning_rate
    np.testing.assert_allclose([float(schedule(0)), float(schedule(10)), float(schedule(20))], [0.1, 0.05, 0.0], atol=1e-6)


def test_a_schedule_replaces_reduce_lr_on_plateau(tmp_path):
    def kinds(config):
        return [type(callback).__name__ for callback in _callbacks(config, RunCheckpoint(tmp_path), "head")]

    # the checkpoint goes last: it saves the state the others have after each epoch
    assert kinds(TrainConfig()) == ["EarlyStopping", "ReduceLROnPlateau", "EpochCheckpoint"]
    assert kinds(TrainConfig(schedule="exponential")) == ["EarlyStopping", "EpochCheckpoint"]


def test_freeze_keeps_the_first_layers_and_fine_tune_layers_the_last():
    backbone = build_model(3, image_size=32, weights=None).get_layer("backbone")
    head_part = head_backbone_layers(backbone)  # the layers up to the tap the head reads
    count = len(head_part)
    assert 15 + 10 < count < len(backbone.layers)
    is_batch_norm = [isinstance(layer, keras.layers.BatchNormalization) for layer in backbone.layers]

    unfreeze(backbone, TrainConfig(freeze=15))
    trainable = [layer.trainable for layer in backbone.layers]
    assert not any(trainable[:15]) and not any(trainable[count:])  # after the tap: only the cloth score reads it
    assert all(t for t, bn in zip(trainable[15:count], is_batch_norm[15:count]) if not bn)
    assert not any(t for t, bn in zip(trainable, is_batch_norm) if bn)  # BatchNorm stays frozen

    unfreeze(backbone, TrainConfig(fine_tune_layers=10))
    trainable = [layer.trainable for layer in backbone.layers]
    assert not any(trainable[:count - 10]) and not any(trainable[count:])
    assert sum(trainable) == sum(not bn for bn in is_batch_norm[count - 10:count])

    unfreeze(backbone, TrainConfig(stn=True))  # a spatial transformer alone: the backbone stays frozen
    assert not backbone.trainable
