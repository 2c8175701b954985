"""Average the heads of models trained on one split: one model, steadier than any run of it.

The same recipe trained again with another seed on the same split (`--split-seed`) names a
different share of webcam frames, because each run draws other crops and frames for its head
(BENCHMARKS.md, "Honest answers"). The models share the frozen backbone and differ only in their
linear heads, so the average of their calibrated logits is again one linear head on the same
features: an ensemble that serves as fast as one model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .card import CURVES_FILE, EVALUATION_DIR, TFLITE_FILE, read_out_of_fold, write_out_of_fold
from .config import TrainConfig

HEAD_WEIGHTS = ("standardise", "logits")  # the layers whose weights differ between runs of one recipe


def _linear_head(model, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, kernel, bias) of a standardised linear head, its logits divided by `temperature`."""
    standardise, logits = (model.get_layer(name) for name in HEAD_WEIGHTS)
    mean = np.asarray(standardise.mean, np.float64).reshape(-1)
    scale = np.maximum(np.sqrt(np.asarray(standardise.variance, np.float64).reshape(-1)), 1e-7)  # as Keras divides
    kernel, bias = (np.asarray(w, np.float64) for w in logits.get_weights())
    return mean, scale, kernel / temperature, bias / temperature


def average_linear_heads(heads) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias that give, on the first head's standardisation, the mean of all heads' logits.

    Each head is (mean, scale, kernel, bias): logits = ((x - mean) / scale) @ kernel + bias.
    """
    first_mean, first_scale = heads[0][0], heads[0][1]
    kernel = np.mean([(first_scale / scale)[:, None] * k for mean, scale, k, b in heads], axis=0)
    bias = np.mean([b + ((first_mean - mean) / scale) @ k for mean, scale, k, b in heads], axis=0)
    return kernel, bias


def average_out_of_fold(model_dirs, temperatures) -> dict:
    """The runs' out-of-fold answers on their cloth pictures (`train --cloth-folds`), averaged as
    their heads are: the mean of each run's logits divided by its own temperature. Each run's
    answer on a picture came from a head fitted without it, so their mean did too, and the
    averaged model's thresholds can be chosen on it as on one run's. {} unless every run has
    answers for the same pictures."""
    answers = [read_out_of_fold(model_dir) for model_dir in model_dirs]
    if not answers[0] or any(set(run) != set(answers[0]) for run in answers[1:]):
        return {}
    return {path: np.mean([run[path] / temperature for run, temperature in zip(answers, temperatures)], axis=0)
            for path in answers[0]}


def _backbone_weights(model) -> list[np.ndarray]:
    head = {id(weight) for name in HEAD_WEIGHTS for weight in model.get_layer(name).weights}
    return [np.asarray(weight) for weight in model.weights if id(weight) not in head]


def _split(card, model_dir) -> dict:
    """The card's split with its paths resolved (cards store them relative to their folder)."""
    return {name: card.samples(name, model_dir) for name in card.split}


def _check_alike(loaded, model_dirs) -> None:
    """Refuse models whose heads cannot be averaged: other classes, split, backbone or head."""
    for (model, _, _), model_dir in zip(loaded, model_dirs):  # first: a hidden layer would read as another backbone
        if any(layer.name == "hidden" for layer in model.layers):
            raise ValueError(f"{model_dir} has a hidden layer in its head (--dense-units): only linear heads average "
                             "into one head.")
    first_model, first_classes, first_card = loaded[0]
    first_backbone = _backbone_weights(first_model)
    first_split = _split(first_card, model_dirs[0])
    for (model, classes, card), model_dir in zip(loaded[1:], model_dirs[1:]):
        if classes != first_classes:
            raise ValueError(f"{model_dir} has other classes than {model_dirs[0]}: heads of one class list only.")
        if _split(card, model_dir) != first_split:
            raise ValueError(f"{model_dir} was trained on another split than {model_dirs[0]}. Average models trained "
                             "on one split (sasirangan train ... --split-seed N), or the test split would hold "
                             "pictures another model trained on.")
        backbone = _backbone_weights(model)
        if len(backbone) != len(first_backbone) or any(
                a.shape != b.shape or not np.allclose(a, b) for a, b in zip(backbone, first_backbone)):
            raise ValueError(f"{model_dir} has another backbone than {model_dirs[0]} (another architecture, or a "
                             "fine-tuned one): only heads on one frozen backbone can be averaged.")


def average_models(model_dirs, out_dir, verbose: bool = True) -> Path:
    """Write a model folder whose head gives the mean calibrated logits of the given models'.

    The models must be one recipe trained on one split with other seeds. The new model is
    calibrated as training calibrates (`calibrate.calibrate_model_folder`), except its
    temperature: the heads' logits are each divided by their own temperature, fitted on the
    validation split before their refit, so the average needs none (temperature 1). Their
    out-of-fold answers on cloth pictures, where every run has them, are averaged the same way
    (`average_out_of_fold`). Then the report is made on the test split.

    Raises:
        ValueError: fewer than two models, models that differ in more than their heads, or an
            `out_dir` that already holds files (nothing is overwritten).
    """
    from .calibrate import calibrate_model_folder
    from .model import load_model_folder, save_model_folder
    from .report import build_report

    model_dirs, out_dir = [Path(d) for d in model_dirs], Path(out_dir)
    if len(model_dirs) < 2:
        raise ValueError("Give at least two model folders to average.")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} already exists and is not empty: write the average to a new folder.")
    loaded = [load_model_folder(d) for d in model_dirs]
    _check_alike(loaded, model_dirs)
    model, class_names, card = loaded[0]
    kernel, bias = average_linear_heads([_linear_head(m, c.temperature) for m, _, c in loaded])
    out_of_fold = average_out_of_fold(model_dirs, [c.temperature for _, _, c in loaded])
    model.get_layer("logits").set_weights([kernel.astype(np.float32), bias.astype(np.float32)])

    card.split = {name: [sample.to_json(out_dir) for sample in samples]
                  for name, samples in _split(card, model_dirs[0]).items()}
    card.averaged_from = [str(d) for d in model_dirs]
    card.history, card.events, card.test_metrics = {}, {}, None
    card.training_seconds = sum(c.training_seconds or 0.0 for _, _, c in loaded)
    try:
        shutil.copytree(model_dirs[0], out_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(TFLITE_FILE, CURVES_FILE, EVALUATION_DIR))
        save_model_folder(model, class_names, card, out_dir)
        calibrate_model_folder(out_dir, card.config.get("open_set_method", TrainConfig.open_set_method),
                               card.config.get("target_accept", TrainConfig.target_accept), card.config.get("confident"),
                               loaded=(model, class_names, card), verbose=False, temperature=1.0)
        if out_of_fold:
            write_out_of_fold(out_dir, out_of_fold)
    except BaseException:  # no half-written model folder left behind
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if verbose:
        print(f"Averaged {len(model_dirs)} heads into {out_dir}; reporting on the test split ...")
    build_report(out_dir, verbose=verbose)
    return out_dir
