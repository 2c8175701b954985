"""The head's loss weights (`sasirangan.train._row_weights`): no images, no model."""

import numpy as np

from sasirangan.config import UNKNOWN_CLASS, TrainConfig
from sasirangan.data import Sample
from sasirangan.train import _row_weights

CLASSES = ["motif_a", UNKNOWN_CLASS]


def _negatives(tmp_path):
    """One motif picture, 6 pictures in a large folder of negatives and 2 in a small one, whose
    files are symbolic links (as models/train_default.sh makes them)."""
    large, small, elsewhere = tmp_path / "large", tmp_path / "small", tmp_path / "elsewhere"
    for folder in (large, small, elsewhere):
        folder.mkdir()
    pictures = [Sample(str(tmp_path / "motif.jpg"), "motif_a")]
    for i in range(6):
        (large / f"{i}.jpg").write_bytes(b"x")
        pictures.append(Sample(str(large / f"{i}.jpg"), UNKNOWN_CLASS))
    for i in range(2):
        (elsewhere / f"{i}.jpg").write_bytes(b"x")
        (small / f"{i}.jpg").symlink_to(elsewhere / f"{i}.jpg")
        pictures.append(Sample(str(elsewhere / f"{i}.jpg"), UNKNOWN_CLASS))  # listed by its real path
    owners = np.repeat(np.arange(len(pictures)), 3)  # three feature rows (crops) of each picture
    labels = np.array([CLASSES.index(pictures[i].label) for i in owners])
    config = TrainConfig(unknown_dirs=[str(large)], cloth_dirs=[str(small)])
    return labels, owners, pictures, config


def test_row_weights_balance_the_classes_and_keep_every_negative_equal_by_default(tmp_path):
    labels, owners, pictures, config = _negatives(tmp_path)
    weights = _row_weights(labels, owners, pictures, CLASSES, config)
    motif, unknown = weights[labels == 0], weights[labels == 1]
    assert np.allclose(motif.sum(), unknown.sum())  # each class weighs the same in all
    assert np.allclose(unknown, unknown[0])


def test_balance_negatives_gives_each_negatives_folder_the_same_share(tmp_path):
    labels, owners, pictures, config = _negatives(tmp_path)
    plain = _row_weights(labels, owners, pictures, CLASSES, config)
    config.balance_negatives = True
    weights = _row_weights(labels, owners, pictures, CLASSES, config)
    in_large = np.isin(owners, range(1, 7))
    in_small = np.isin(owners, range(7, 9))
    assert np.allclose(weights[in_large].sum(), weights[in_small].sum())  # 6 pictures weigh as much as 2
    assert weights[in_small][0] == 3 * weights[in_large][0]
    assert np.allclose(weights[labels == 1].sum(), plain[labels == 1].sum())  # the class's share is unchanged
    assert np.allclose(weights[labels == 0], plain[labels == 0])


def test_no_row_weights_without_class_weights(tmp_path):
    labels, owners, pictures, config = _negatives(tmp_path)
    config.class_weights = False
    assert _row_weights(labels, owners, pictures, CLASSES, config) is None


def test_train_with_balanced_negatives_end_to_end(tmp_path):
    """`--balance-negatives` trains (phase 1, the refit and the folds) and is kept in the card."""
    import json

    from conftest import make_flat_pictures, make_tree
    from sasirangan.cli import main

    data = make_tree(tmp_path / "data", classes=("stripes", "bands"), per_class=8, size=40)
    cloth = make_tree(tmp_path / "cloth", classes=("checks",), per_class=8, size=40) / "checks"
    flat = make_flat_pictures(tmp_path / "flat", count=16)  # twice as many as the cloth: they are balanced
    out = tmp_path / "model"
    assert main(["train", str(data), "--out", str(out), "--image-size", "32", "--weights", "none",
                 "--head-epochs", "2", "--crop-passes", "1", "--views-grid", "0", "--batch-size", "8", "--folds", "2",
                 "--quiet", "--unknown-dir", str(flat), "--cloth-dir", str(cloth), "--balance-negatives"]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["config"]["balance_negatives"] is True and card["cross_validation"]
