"""The head's loss weights (`sasirangan.train._row_weights`) and its out-of-fold answers on cloth
(`_cloth_out_of_fold`)."""

from pathlib import Path

import numpy as np

from sasirangan.card import ModelCard, read_out_of_fold
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
                 "--quiet", "--unknown-dir", str(flat), "--cloth-dir", str(cloth), "--balance-negatives",
                 "--cloth-folds", "2"]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["config"]["balance_negatives"] is True and card["cross_validation"]
    given = {s.path for split in ("train", "val") for s in ModelCard.from_dict(card).samples(split, out)
             if Path(s.path).parent == cloth}
    answered = read_out_of_fold(out)
    assert given and set(answered) == given and all(len(v) == len(card["classes"]) for v in answered.values())


def test_cloth_out_of_fold_answers_each_cloth_picture_from_a_head_that_never_saw_it(tmp_path, monkeypatch):
    """`--cloth-folds`: every --cloth-dir picture of train + validation is left out of exactly
    one fit and answered by it; the motifs' pictures are in every fit; the model is as before."""
    import sasirangan.train as train_module
    from sasirangan.model import build_model, head_layers

    classes = ["motif_a", "motif_b", UNKNOWN_CLASS]
    cloth = tmp_path / "cloth"
    cloth.mkdir()

    def picture(name, label, folder=tmp_path):
        (folder / name).write_bytes(b"x")
        return Sample(str(folder / name), label)

    train = ([picture(f"a{i}.jpg", "motif_a") for i in range(3)] + [picture(f"b{i}.jpg", "motif_b") for i in range(3)]
             + [picture(f"c{i}.jpg", UNKNOWN_CLASS, cloth) for i in range(5)] + [picture("other.jpg", UNKNOWN_CLASS)])
    val = [picture("a_val.jpg", "motif_a"), picture("c_val.jpg", UNKNOWN_CLASS, cloth)]
    config = TrainConfig(image_size=32, weights="none", views_grid=0, cloth_dirs=[str(cloth)], cloth_folds=2,
                         head_epochs=1, batch_size=8)
    model = build_model(len(classes), 32, "none")
    width = model.get_layer("pooler").output.shape[-1]
    rng = np.random.default_rng(0)

    def rows(samples, first_id):  # two crops of each picture, then its one evaluation view; column 0 says whose
        owners = np.concatenate([np.repeat(np.arange(len(samples)), 2), np.arange(len(samples))])
        labels = np.array([classes.index(samples[i].label) for i in owners])
        x = (rng.normal(size=(len(owners), width)) + labels[:, None]).astype(np.float32)
        x[:, 0] = owners + first_id
        return x, labels, owners

    features = {"train": rows(train, 0), "val": rows(val, len(train))}
    fitted = {"initial_head": [layer.get_weights() for layer in head_layers(model)], "head_epochs": 1}
    fits = []
    fit_head = train_module._fit_head
    monkeypatch.setattr(train_module, "_fit_head", lambda model, x, *args, **kwargs: (
        fits.append(set(x[:, 0].astype(int))), fit_head(model, x, *args, **kwargs))[1])
    before = [weights.copy() for weights in model.get_weights()]

    logits = train_module._cloth_out_of_fold(model, features, {"train": train, "val": val}, fitted, classes, config,
                                             lambda *a: None)

    pictures = train + val
    cloth_ids = {i for i, sample in enumerate(pictures) if Path(sample.path).parent == cloth}
    assert sorted(logits) == sorted(pictures[i].path for i in cloth_ids)
    assert all(values.shape == (len(classes),) for values in logits.values())
    assert not any(np.isclose(values.sum(), 1.0) for values in logits.values())  # logits, not probabilities
    assert len(fits) == 2
    left_out = [set(range(len(pictures))) - seen for seen in fits]
    assert sorted(i for missing in left_out for i in missing) == sorted(cloth_ids)  # each exactly once
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
