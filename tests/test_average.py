"""Averaging the heads of models trained on one split (sasirangan average)."""

import json
import shutil

import numpy as np

from sasirangan.average import average_linear_heads
from sasirangan.calibrate import softmax
from sasirangan.card import read_out_of_fold, write_out_of_fold
from sasirangan.cli import main
from sasirangan.model import load_model_folder, save_model_folder, serving_model


def test_average_of_linear_heads_is_the_mean_of_their_logits():
    rng = np.random.default_rng(0)
    heads = [(rng.normal(size=6), rng.uniform(0.5, 2, 6), rng.normal(size=(6, 3)), rng.normal(size=3))
             for _ in range(3)]
    features = rng.normal(size=(4, 6)) * 3
    expected = np.mean([((features - m) / s) @ k + b for m, s, k, b in heads], axis=0)
    kernel, bias = average_linear_heads(heads)
    first_mean, first_scale = heads[0][:2]
    np.testing.assert_allclose(((features - first_mean) / first_scale) @ kernel + bias, expected, atol=1e-9)


def _another_seed(model_dir, out_dir, seed: int):
    """A copy of a model folder with another head, as another seed on the same split would give."""
    model, class_names, card = load_model_folder(model_dir)
    rng = np.random.default_rng(seed)
    standardise, logits = model.get_layer("standardise"), model.get_layer("logits")
    mean, variance, count = standardise.get_weights()
    standardise.set_weights([mean + rng.normal(0, 0.1, mean.shape).astype(np.float32), variance * 1.5, count])
    kernel, bias = logits.get_weights()
    logits.set_weights([kernel + rng.normal(0, 0.5, kernel.shape).astype(np.float32),
                        bias + rng.normal(0, 0.5, bias.shape).astype(np.float32)])
    card.calibration = {**(card.calibration or {}), "temperature": 1.7}
    return _save_elsewhere(model, class_names, card, model_dir, out_dir)


def _save_elsewhere(model, class_names, card, model_dir, out_dir):
    """A changed model saved to another folder, its split still pointing at the same photos."""
    card.split = {name: [s.to_json(out_dir) for s in card.samples(name, model_dir)] for name in card.split}
    shutil.copytree(model_dir, out_dir)
    (out_dir / "model.tflite").unlink()
    save_model_folder(model, class_names, card, out_dir)
    return out_dir


def _logits(model_dir, pictures):
    model, _, card = load_model_folder(model_dir)
    return np.asarray(serving_model(model)(pictures, training=False)["logits"]), card.temperature


def test_average_serves_the_mean_of_the_calibrated_answers(trained_model_dir, tmp_path, capsys):
    other = _another_seed(trained_model_dir, tmp_path / "other", seed=1)
    code = main(["average", str(trained_model_dir), str(other), "--out", str(tmp_path / "mean")])
    assert code == 0, capsys.readouterr().err
    pictures = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    (first, t_first), (second, t_second) = _logits(trained_model_dir, pictures), _logits(other, pictures)
    averaged, t_averaged = _logits(tmp_path / "mean", pictures)
    assert t_averaged == 1.0  # each head was calibrated before it was averaged
    np.testing.assert_allclose(softmax(averaged), softmax((first / t_first + second / t_second) / 2), atol=1e-5)
    card = json.loads((tmp_path / "mean" / "model_card.json").read_text())
    assert card["averaged_from"] == [str(trained_model_dir), str(other)]
    assert (tmp_path / "mean" / "evaluation").is_dir()  # reported on the test split, like a trained model


def test_average_keeps_the_runs_out_of_fold_answers_averaged_as_their_heads(trained_model_dir, tmp_path, capsys):
    """`train --cloth-folds` answers: each run's logits over its own temperature, averaged; where
    one run lacks them, the average has none rather than one run's passed off as the mean."""
    other = _another_seed(trained_model_dir, tmp_path / "other", seed=1)
    first_dir = _save_elsewhere(*load_model_folder(trained_model_dir), trained_model_dir, tmp_path / "first")
    pictures = [str(tmp_path / "cloth_a.jpg"), str(tmp_path / "cloth_b.jpg")]
    first = {pictures[0]: [2.0, 0.0, -1.0], pictures[1]: [0.0, 1.0, 3.0]}
    second = {pictures[0]: [0.0, 1.7, 1.7], pictures[1]: [3.4, 0.0, 0.0]}
    write_out_of_fold(first_dir, first)
    write_out_of_fold(other, second)
    t_first, t_second = (load_model_folder(d)[2].temperature for d in (first_dir, other))
    assert t_second == 1.7 and t_first != t_second
    assert main(["average", str(first_dir), str(other), "--out", str(tmp_path / "mean")]) == 0, capsys.readouterr().err
    averaged = read_out_of_fold(tmp_path / "mean")
    assert sorted(averaged) == sorted(pictures)
    for path in pictures:
        expected = (np.array(first[path]) / t_first + np.array(second[path]) / t_second) / 2
        np.testing.assert_allclose(averaged[path], expected, atol=1e-5)

    (other / "evaluation" / "cloth_out_of_fold.json").unlink()
    assert main(["average", str(first_dir), str(other), "--out", str(tmp_path / "partial")]) == 0
    assert read_out_of_fold(tmp_path / "partial") == {}


def test_average_refuses_models_that_differ_in_more_than_their_heads(trained_model_dir, tmp_path, capsys):
    resplit = tmp_path / "resplit"
    shutil.copytree(trained_model_dir, resplit)
    card = json.loads((resplit / "model_card.json").read_text())
    card["split"]["train"][0], card["split"]["test"][0] = card["split"]["test"][0], card["split"]["train"][0]
    (resplit / "model_card.json").write_text(json.dumps(card))
    assert main(["average", str(trained_model_dir), str(resplit), "--out", str(tmp_path / "a")]) == 2
    assert "trained on another split" in capsys.readouterr().err

    tuned = tmp_path / "tuned"
    model, class_names, card = load_model_folder(trained_model_dir)
    first_conv = model.weights[0]  # the backbone's first kernel
    assert "logits" not in first_conv.path and "standardise" not in first_conv.path
    first_conv.assign(np.asarray(first_conv) + 0.1)
    _save_elsewhere(model, class_names, card, trained_model_dir, tuned)
    assert main(["average", str(trained_model_dir), str(tuned), "--out", str(tmp_path / "b")]) == 2
    assert "another backbone" in capsys.readouterr().err

    assert main(["average", str(trained_model_dir), "--out", str(tmp_path / "c")]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["average", str(trained_model_dir), str(trained_model_dir), "--out", str(trained_model_dir)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (trained_model_dir / "model.keras").is_file()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
