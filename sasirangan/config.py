"""All training defaults in one place; the CLI builds its flags from these fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

UNKNOWN_CLASS = "unknown"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")


@dataclass
class TrainConfig:
    """How one model is trained. Every field is also a `sasirangan train --flag`."""

    backbone: str = "mobilenet_v2"  # a key of sasirangan.backbones.BACKBONES
    image_size: int = 0  # square input side in pixels; 0 = the backbone's native size (224 for mobilenet_v2)
    features: str = "middle"  # what the head reads: "middle" (the backbone's mid-level layer, pooled: texture) or "top" (its last layer)
    views_grid: int = 3  # answers average the whole picture and views_grid x views_grid close-up tiles (0 = whole only)
    views_zoom: float = 2.0  # close-ups are cut from the picture enlarged to views_zoom x image_size
    crop_passes: int = 10  # phase 1: random crops (close-up to whole) drawn per training picture, features computed once
    camera_passes: int = 0  # phase 1: also this many webcam-like views (sasirangan.webcam) of each training picture
    camera_zoom: float = 3.0  # those views magnify the training picture from webcam.WebcamSettings.zoom[0] to this
    batch_size: int = 32  # images per training step
    val_split: float = 0.1  # share of each class held out to pick epochs and thresholds
    test_split: float = 0.1  # share of each class held out for the final, untouched evaluation
    seed: int = 42  # fixes the split, the crops, the shuffling and the weight initialisation
    split_seed: int = -1  # >=0: draws the split (and the region crops) instead of seed, to retrain on the same split
    weights: str = "imagenet"  # "imagenet", "none" (random init) or a path to a .h5 weights file
    head_epochs: int = 60  # phase 1: at most this many epochs of the head on frozen features
    fine_tune_epochs: int = 15  # phase 2: at most this many epochs fine-tuning the backbone's top
    head_learning_rate: float = 1e-3  # phase 1 learning rate (of --optimizer)
    fine_tune_learning_rate: float = 1e-5  # phase 2 learning rate: low, so ImageNet features survive
    fine_tune_layers: int = 0  # how many of the backbone's top layers phase 2 unfreezes (0 = no phase 2, the default by measurement)
    freeze: int = 0  # >0: phase 2 fine-tunes every backbone layer but the first N (the MRI study's 15 or 30); not with fine_tune_layers
    optimizer: str = "adam"  # adam, adamw (decoupled weight decay 0.004), sgd or rmsprop (both with --momentum)
    momentum: float = 0.9  # momentum of sgd and rmsprop
    schedule: str = "constant"  # learning rate: constant (lowered on plateaus), exponential (x decay_rate an epoch) or cosine (to 0 over the phase's epochs)
    decay_rate: float = 0.9  # exponential schedule: the learning rate is multiplied by this every epoch
    stn: bool = False  # a spatial transformer in front of the backbone, trained in phase 2 (with fine_tune_learning_rate)
    dense_units: int = 0  # width of a hidden layer in the head (0 = linear head on standardised features)
    dropout: float = 0.2  # dropout on the pooled features (and after the hidden layer)
    weight_decay: float = 1e-3  # L2 penalty on the head's weights
    refit: bool = True  # after choosing epochs on validation, retrain on train + validation for the saved model
    folds: int = 0  # >1: also report K-fold cross-validated accuracy of phase 1 on train + validation
    cloth_folds: int = 0  # >1: also fit the head K times without a K-th of the --cloth-dir pictures, and keep their
    # answers (evaluation/cloth_out_of_fold.json): what the head makes of cloth it never learnt, to choose thresholds on
    patience: int = 5  # EarlyStopping patience in epochs (ReduceLROnPlateau uses half of it)
    augment: bool = True  # random rotation, flip, zoom, brightness, contrast on training images
    tilt: float = 20.0  # training pictures are turned at random by up to this many degrees
    perspective: float = 0.0  # also warp training pictures as a camera held at a slant does (0..1, strength)
    blur: float = 0.0  # also soften training images as a webcam does: shrink each to (1 - blur)..1 of its side and back
    hue: float = 0.0  # also turn training images' hues at random, up to hue x 180 degrees (1 = any colourway)
    duplicate_distance: int = 6  # perceptual-hash bits within which two images count as duplicates
    samples_per_class: int = 0  # >0: classes with fewer images are expanded into region crops
    region_grid: int = 3  # crops come from a grid x grid tiling; each tile belongs to one split
    class_weights: bool = True  # weight the loss by inverse class frequency
    balance_negatives: bool = False  # within "unknown", each negatives folder (the data folder's own, each
    # --unknown-dir and --cloth-dir) weighs the same, so a small one (other motifs of the same cloth) is not drowned
    unknown_dirs: list[str] = field(default_factory=list)  # extra folders of negatives for "unknown" that are not cloth
    cloth_dirs: list[str] = field(default_factory=list)  # cloth or patterns that are none of your motifs: join "unknown",
    # and teach the cloth score (sasirangan.verdict) what "cloth, but not a motif I know" looks like
    open_set_method: str = "mahalanobis"  # post-hoc rejection score: mahalanobis, cosine, energy, max_logit, msp
    target_accept: float = 0.95  # the rejection threshold accepts this share of known validation images
    confident: float = 0.5  # a motif is named only from this calibrated probability (below: "not sure which motif")
    unknown_ceiling: float = 1.0  # ... and while the unknown class has at most this calibrated probability (1 = no limit)
    notes: str = ""  # saved in the model card: what the photos are, what the model cannot be expected to do

    @property
    def split_random_state(self) -> int:
        """The seed that draws the split: split_seed when set, else seed."""
        return self.seed if self.split_seed < 0 else self.split_seed

    def check(self) -> "TrainConfig":
        """Fail in a second, before any training, on a setting that cannot work."""
        from .backbones import get_backbone
        from .model import FEATURE_CHOICES
        from .openset import METHODS
        from .optimizers import OPTIMIZERS, SCHEDULES
        from .webcam import WebcamSettings

        problems = []
        try:
            if self.image_size == 0:  # the backbone's native size
                self.image_size = get_backbone(self.backbone).native_size
        except ValueError as error:
            problems.append(str(error))
        for name in ("batch_size", "head_epochs", "crop_passes"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1. Received: {name}={getattr(self, name)}.")
        for name in ("camera_passes", "fine_tune_epochs", "fine_tune_layers", "freeze", "dense_units", "samples_per_class", "views_grid", "patience"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be 0 or more. Received: {name}={getattr(self, name)}.")
        if self.image_size < 0 or 0 < self.image_size < 32:
            problems.append(f"image_size must be 0 (the backbone's own) or at least 32. Received: image_size={self.image_size}.")
        if self.freeze and self.fine_tune_layers:
            problems.append(f"freeze (keep the first N backbone layers fixed) and fine_tune_layers (train the top N) "
                            f"choose the same thing two ways; give one. Received: freeze={self.freeze}, "
                            f"fine_tune_layers={self.fine_tune_layers}.")
        if self.features not in FEATURE_CHOICES:
            problems.append(f"features must be one of {', '.join(FEATURE_CHOICES)}. Received: features={self.features!r}.")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}. Received: optimizer={self.optimizer!r}.")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}. Received: schedule={self.schedule!r}.")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1). Received: momentum={self.momentum}.")
        if not 0 < self.decay_rate <= 1:
            problems.append(f"decay_rate must be in (0, 1]. Received: decay_rate={self.decay_rate}.")
        least_zoom = WebcamSettings.zoom[0]
        if self.camera_zoom < least_zoom:
            problems.append(f"camera_zoom must be at least {least_zoom} (the least a webcam view magnifies). "
                            f"Received: camera_zoom={self.camera_zoom}.")
        if self.views_grid and self.views_zoom < 1:
            problems.append(f"views_zoom must be at least 1. Received: views_zoom={self.views_zoom}.")
        if not (0 <= self.val_split < 1 and 0 <= self.test_split < 1 and self.val_split + self.test_split < 1):
            problems.append(f"val_split and test_split must be in [0, 1) and leave images to train on. "
                            f"Received: val_split={self.val_split}, test_split={self.test_split}.")
        if self.val_split == 0:
            problems.append("val_split must be above 0: epochs, the temperature and the unknown threshold are chosen on it.")
        if not 0 <= self.tilt <= 180:
            problems.append(f"tilt must be in [0, 180] degrees. Received: tilt={self.tilt}.")
        for name in ("dropout", "blur", "hue", "perspective"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be in [0, 1]. Received: {name}={getattr(self, name)}.")
        if self.head_learning_rate <= 0 or self.fine_tune_learning_rate <= 0:
            problems.append("head_learning_rate and fine_tune_learning_rate must be above 0.")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be 0 or more. Received: weight_decay={self.weight_decay}.")
        if self.folds == 1 or self.folds < 0:
            problems.append(f"folds must be 0 (off) or at least 2. Received: folds={self.folds}.")
        if self.cloth_folds == 1 or self.cloth_folds < 0:
            problems.append(f"cloth_folds must be 0 (off) or at least 2. Received: cloth_folds={self.cloth_folds}.")
        if self.cloth_folds > 1 and not self.cloth_dirs:
            problems.append("cloth_folds answers the --cloth-dir pictures out of fold: give at least one --cloth-dir.")
        if self.open_set_method not in METHODS:
            problems.append(f"open_set_method must be one of {', '.join(METHODS)}. Received: open_set_method={self.open_set_method!r}.")
        if not 0 < self.confident < 1:
            problems.append(f"confident must be in (0, 1). Received: confident={self.confident}.")
        if not 0 < self.unknown_ceiling <= 1:
            problems.append(f"unknown_ceiling must be in (0, 1]. Received: unknown_ceiling={self.unknown_ceiling}.")
        if not 0 < self.target_accept <= 1:
            problems.append(f"target_accept must be in (0, 1]. Received: target_accept={self.target_accept}.")
        if self.split_seed < -1:
            problems.append(f"split_seed must be -1 (the same as seed) or a seed of 0 or more. Received: split_seed={self.split_seed}.")
        if self.samples_per_class and self.region_grid < 3:
            problems.append(f"region_grid must be at least 3. Received: region_grid={self.region_grid}.")
        if problems:
            raise ValueError(" ".join(problems))
        return self

    @property
    def views(self):
        """The views answers are averaged over (`sasirangan.views.Views`)."""
        from .views import Views

        return Views(self.views_grid, self.views_zoom)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]
