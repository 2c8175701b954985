"""Shared by the benchmark scripts: seed the Keras cache from ../shared when it is there."""

import os
import shutil
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
# What the batik open-set targets are measured on: pictures that are not textiles, and cloth it never saw.
UNKNOWN_FOLDERS = {"not_textile": SHARED / "datasets" / "not_textile",
                   "sasirangan": SHARED / "datasets" / "sasirangan" / "photos"}


def seed_keras_cache() -> None:
    """Offline machines cannot download ImageNet weights; copy them into the Keras cache."""
    source = SHARED / "keras" / "models"
    if not source.is_dir():
        return  # online users: keras downloads the weights as usual
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    cache.mkdir(parents=True, exist_ok=True)
    for weights in source.glob("*.h5"):
        if not (cache / weights.name).exists():
            shutil.copy(weights, cache / weights.name)


def load_splits(model_dir):
    """(model, class_names, card, samples, labels) of a model folder's own train/val/test split, as
    its card lists them: what open-set scores are fitted on (like `sasirangan calibrate`) and checked on."""
    import numpy as np

    from sasirangan.data import SPLITS
    from sasirangan.model import load_model_folder

    model, class_names, card = load_model_folder(model_dir)
    index = {name: i for i, name in enumerate(class_names)}
    samples = {split: card.samples(split, model_dir) for split in SPLITS}
    labels = {split: np.array([index[s.label] for s in items], dtype=int) for split, items in samples.items()}
    return model, class_names, card, samples, labels


def image_files(folder) -> list[Path]:
    """Every picture under a folder, sorted, so two runs score the same photos in the same order."""
    from sasirangan.config import IMAGE_EXTENSIONS

    return [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
