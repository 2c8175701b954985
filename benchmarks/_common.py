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
