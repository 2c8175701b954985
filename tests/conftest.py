"""Shared fixtures: generated image trees, and an offline Keras cache seeded from ../shared."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Seed a private Keras cache before keras is imported anywhere, so weights="imagenet"
# works offline with the file from ../shared (a user online downloads it as usual).
_cache = ROOT / ".keras_cache"
(_cache / "models").mkdir(parents=True, exist_ok=True)
for _weights in (SHARED / "keras" / "models").glob("*.h5"):
    if not (_cache / "models" / _weights.name).exists():
        shutil.copy(_weights, _cache / "models" / _weights.name)
os.environ["KERAS_HOME"] = str(_cache)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGENET_WEIGHTS = _cache / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
requires_shared = pytest.mark.skipif(
    not (SHARED / "datasets").is_dir() or not IMAGENET_WEIGHTS.is_file(),
    reason="needs ../shared (real photos and ImageNet weights)",
)


def pattern_image(kind: str, seed: int, size: int = 48) -> Image.Image:
    """A small picture whose class shows in its pattern and whose details are random."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    period = rng.uniform(5, 9)
    phase = rng.uniform(0, 6.3)
    wave = {"stripes": np.sin(x / period * 6.28 + phase), "bands": np.sin(y / period * 6.28 + phase),
            "checks": np.sin(x / period * 6.28 + phase) * np.sin(y / period * 6.28)}[kind]
    colour = rng.uniform(60, 200, size=3)
    pixels = colour + 50 * wave[..., None] + rng.normal(0, 25, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_tree(root: Path, classes=("stripes", "bands", "checks"), per_class: int = 12, size: int = 48) -> Path:
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pattern_image(name if name in ("stripes", "bands", "checks") else "checks", 1000 * c + i, size).save(
                folder / f"{name}_{i:02d}.png")
    return root


def make_flat_pictures(folder: Path, count: int = 8, size: int = 40) -> Path:
    """`count` pictures of one flat random colour each: negatives that are not cloth."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(np.full((size, size, 3), rng.integers(0, 255, 3), np.uint8)).save(folder / f"flat_{i}.png")
    return folder


@pytest.fixture
def image_tree(tmp_path):
    """tmp/data/{stripes,bands,checks}/*.png, 12 distinct images per class."""
    return make_tree(tmp_path / "data")


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory):
    """A toy model folder trained once through the CLI (32 px, random init, 2+1 epochs, 2-fold CV)."""
    from sasirangan.cli import main

    root = tmp_path_factory.mktemp("toy")
    data = make_tree(root / "data", per_class=10, size=40)
    out = root / "model"
    code = main(["train", str(data), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--head-epochs", "2", "--fine-tune-layers", "4", "--fine-tune-epochs", "1", "--crop-passes", "2",
                 "--folds", "2", "--batch-size", "8", "--quiet"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def predictor(trained_model_dir):
    """The toy model's Predictor, loaded once per test module (the app's tests share it)."""
    from sasirangan.predict import Predictor

    return Predictor(trained_model_dir)


# --------------------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="session")
def postgresql_server():
    """A throw-away PostgreSQL server on 127.0.0.1 (trust auth) for the session; yields its base URL."""
    from postgres_server import PostgresNotFound, throwaway_postgresql

    try:
        with throwaway_postgresql() as url:
            yield url
    except PostgresNotFound as error:
        pytest.fail(str(error))


@pytest.fixture
def postgresql_url(postgresql_server):
    """A fresh, empty database on the session's server, dropped after the test."""
    import uuid

    import psycopg
    from postgres_server import create_database

    name = f"test_{uuid.uuid4().hex[:12]}"
    yield create_database(postgresql_server, name)
    with psycopg.connect(f"{postgresql_server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
