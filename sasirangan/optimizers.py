"""The optimizer and learning-rate schedule of each training phase, from the settings.

The neighbouring studies compare Adam, SGD and RMSprop with an exponentially decaying
learning rate; the default stays Adam at a constant rate that ReduceLROnPlateau lowers.
A schedule replaces ReduceLROnPlateau (Keras cannot lower a rate a schedule owns).
"""

from __future__ import annotations

import math

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "exponential", "cosine")


def learning_rate(config, initial: float, steps_per_epoch: int, epochs: int):
    """A float for `constant`, else a keras LearningRateSchedule over this phase's steps."""
    import keras

    steps_per_epoch = max(1, int(steps_per_epoch))
    if config.schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(initial, decay_steps=steps_per_epoch,
                                                           decay_rate=config.decay_rate)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(initial, decay_steps=steps_per_epoch * max(1, epochs))
    return initial


def make_optimizer(config, initial: float, steps_per_epoch: int = 1, epochs: int = 1):
    """The configured optimizer at `initial` learning rate (scheduled over `epochs` if asked)."""
    import keras

    rate = learning_rate(config, initial, steps_per_epoch, epochs)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=config.momentum)
    return keras.optimizers.Adam(rate)


def steps(examples: int, batch_size: int) -> int:
    return math.ceil(examples / batch_size)
