"""All training defaults in one place; the CLI builds its flags from these fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

UNKNOWN_CLASS = "unknown"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")


@dataclass
class TrainConfig:
    """How one model is trained. Every field is also a `sasirangan train --flag`."""

    image_size: int = 224  # square input side in pixels (ImageNet weights exist for 224 only)
    batch_size: int = 32  # images per training step
    val_split: float = 0.1  # share of each class held out to pick epochs and thresholds
    test_split: float = 0.1  # share of each class held out for the final, untouched evaluation
    seed: int = 42  # fixes the split, the crops, the shuffling and the weight initialisation
    weights: str = "imagenet"  # "imagenet", "none" (random init) or a path to a .h5 weights file
    head_epochs: int = 20  # phase 1: at most this many epochs with the backbone frozen
    fine_tune_epochs: int = 15  # phase 2: at most this many epochs fine-tuning the backbone's top
    head_learning_rate: float = 1e-3  # phase 1 Adam learning rate
    fine_tune_learning_rate: float = 1e-5  # phase 2 learning rate: low, so ImageNet features survive
    fine_tune_layers: int = 40  # how many of the backbone's top layers phase 2 unfreezes (0 = skip)
    dense_units: int = 256  # width of the hidden layer of the head
    dropout: float = 0.2  # dropout before and after the hidden layer
    patience: int = 5  # EarlyStopping patience in epochs (ReduceLROnPlateau uses half of it)
    augment: bool = True  # random rotation, flip, zoom, brightness, contrast on training images
    blur: float = 0.0  # also soften training images as a webcam does: shrink each to (1 - blur)..1 of its side and back
    hue: float = 0.0  # also turn training images' hues at random, up to hue x 180 degrees (1 = any colourway)
    duplicate_distance: int = 6  # perceptual-hash bits within which two images count as duplicates
    samples_per_class: int = 0  # >0: classes with fewer images are expanded into region crops
    region_grid: int = 3  # crops come from a grid x grid tiling; each tile belongs to one split
    class_weights: bool = True  # weight the loss by inverse class frequency
    unknown_dirs: list[str] = field(default_factory=list)  # extra folders of negatives for "unknown"
    open_set_method: str = "mahalanobis"  # post-hoc rejection score: mahalanobis, cosine, energy, max_logit, msp
    target_accept: float = 0.95  # the rejection threshold accepts this share of known validation images
    notes: str = ""  # saved in the model card: what the photos are, what the model cannot be expected to do

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]
