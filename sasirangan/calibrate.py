"""Temperature scaling: make "90% sure" mean right about 90% of the time.

One scalar T divides the logits before the softmax; it is fitted on the validation split
by minimising the negative log-likelihood, so the ranking of classes never changes.
"""

from __future__ import annotations

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """Raised when a scorer or calibrator is used before `fit`."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    return calibration_error(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels, bins)


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """The ECE from each image's top confidence and whether that answer was right."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def ece_interval(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15, level: float = 0.95) -> list[float]:
    """Bootstrap percentile interval of the ECE over images: with a few dozen test images the
    ECE itself swings by several points, and a target should be judged against this range.

    The binned ECE is biased upwards and resampling adds to that, so for a well-calibrated model
    the interval can sit above the measured value; read it beside `ece_of_calibrated_model`.
    """
    from scipy.stats import bootstrap

    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    if len(confidence) < 2:
        return [0.0, 1.0]
    result = bootstrap((confidence, correct), lambda s, c: calibration_error(s, c > 0.5, bins), paired=True,
                       vectorized=False, n_resamples=1000, confidence_level=level, method="percentile",
                       random_state=0)
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def ece_of_calibrated_model(confidence: np.ndarray, bins: int = 15, draws: int = 2000, seed: int = 0) -> list[float]:
    """What a perfectly calibrated model with these confidences would measure: [mean, 95th percentile].

    The binned ECE is biased upwards on few images: on 43 test images a model whose "70%" is
    right exactly 70% of the time still measures about 6%, and 1 time in 20 over 13%. Drawing
    right/wrong from the confidences themselves shows how much of a measured ECE the sample size
    alone explains (a measured ECE under the 95th percentile cannot be told apart from perfect
    calibration).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    if len(confidence) == 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    errors = [calibration_error(confidence, rng.random(len(confidence)) < confidence, bins) for _ in range(draws)]
    return [float(np.mean(errors)), float(np.quantile(errors, 0.95))]


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10):
    """(bin centres, accuracy per bin, count per bin) for a reliability diagram."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    accuracy, counts = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        counts.append(int(in_bin.sum()))
        accuracy.append(float(correct[in_bin].mean()) if in_bin.any() else np.nan)
    return (edges[:-1] + edges[1:]) / 2, np.array(accuracy), np.array(counts)


class TemperatureScaler:
    """Fits one temperature on held-out logits (scikit-learn style: fit returns self).

    Example:
        >>> logits = np.random.default_rng(0).normal(size=(50, 4)) * 5
        >>> labels = logits.argmax(1)
        >>> TemperatureScaler().fit(logits, labels).temperature_ > 0
        True
    """

    def __init__(self, bounds=(0.5, 20.0)):
        # The lower bound matters when the validation split is classified perfectly: the
        # likelihood then keeps improving as T -> 0, sharpening every answer to 100%.
        self.bounds = bounds

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> "TemperatureScaler":
        from scipy.optimize import minimize_scalar

        logits = np.asarray(logits, dtype=np.float64)
        labels = np.asarray(labels)

        def nll(log_temperature):
            probabilities = softmax(logits, np.exp(log_temperature))
            return -np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12))

        result = minimize_scalar(nll, bounds=np.log(self.bounds), method="bounded")
        self.temperature_ = float(np.exp(result.x))
        return self

    def transform(self, logits: np.ndarray) -> np.ndarray:
        if not hasattr(self, "temperature_"):
            raise NotFittedError("This TemperatureScaler is not fitted yet; call fit(logits, labels) first.")
        return softmax(logits, self.temperature_)


def calibrate_model_folder(model_dir, method: str = "mahalanobis", target_accept: float = 0.95,
                           confident: float | None = None, loaded=None, verbose: bool = True,
                           temperature: float | None = None, unknown_ceiling: float | None = None) -> dict:
    """Fit temperature scaling and the open-set threshold of a saved model; store them with it.

    Uses the model's own split manifest: class centres from the training split (no
    augmentation; for the open-set score and for enrolling catalogue motifs,
    `sasirangan.enrol`), temperature and threshold from the validation split. Writes
    the open-set arrays and the reliability diagram, and the settings into the model card.

    Args:
        model_dir: the model folder.
        method: open-set method, see `sasirangan.openset.METHODS`.
        target_accept: share of known validation images the threshold accepts.
        confident: calibrated probability from which a motif is named (None: the model's
            training setting, else `verdict.DEFAULT_CONFIDENT`).
        loaded: optional (model, class_names, card) already in memory.
        temperature: a temperature already known (`sasirangan.average`: heads calibrated before
            they were averaged), kept instead of fitted.
        unknown_ceiling: the most calibrated probability the unknown class may have while a motif
            is named (None: the model's training setting, else 1, no limit).

    Returns:
        The updated model card.
    """
    from pathlib import Path

    from .config import UNKNOWN_CLASS
    from .evaluate import model_outputs
    from .card import OPEN_SET_FILE, RELIABILITY_FILE
    from .model import load_model_folder
    from .enrol import Enrolment
    from .openset import OpenSetScorer
    from .plots import plot_reliability
    from .verdict import DEFAULT_CONFIDENT, NO_UNKNOWN_CEILING

    _check_thresholds(confident, unknown_ceiling)
    model_dir = Path(model_dir)
    model, class_names, card = loaded or load_model_folder(model_dir)
    if card.refit and verbose:
        print("Warning: this model was refit on train + validation, so it has seen the validation photos; a temperature "
              "and threshold fitted on them now are too optimistic. Retrain to calibrate it honestly.")
    size = int(model.input_shape[1])
    index = {name: i for i, name in enumerate(class_names)}
    outputs, labels = {}, {}
    for split in ("train", "val"):
        samples = card.samples(split, model_dir)
        missing = [s.path for s in samples if not Path(s.path).is_file()]
        if missing:
            raise FileNotFoundError(f"Calibration needs the model's training photos; {missing[0]} is gone.")
        outputs[split] = model_outputs(model, samples, class_names, size, card.view_spec)
        labels[split] = np.array([index[s.label] for s in samples])

    if temperature is None:
        scaler = TemperatureScaler().fit(outputs["val"]["logits"], labels["val"])
    else:
        scaler = TemperatureScaler()
        scaler.temperature_ = float(temperature)
    before = expected_calibration_error(softmax(outputs["val"]["logits"]), labels["val"])
    after = expected_calibration_error(scaler.transform(outputs["val"]["logits"]), labels["val"])
    known = [i for i, name in enumerate(class_names) if name != UNKNOWN_CLASS]
    scorer = OpenSetScorer(method, target_accept, known).fit(outputs["train"], labels["train"], outputs["val"], labels["val"])

    cloth = _fit_cloth_scorer(card, outputs, labels, model_dir, model, size)
    enrolment = Enrolment().fit(outputs["train"]["features"], labels["train"], class_names)
    if confident is None:
        confident = card.config.get("confident", DEFAULT_CONFIDENT)
    if unknown_ceiling is None:
        unknown_ceiling = card.config.get("unknown_ceiling", NO_UNKNOWN_CEILING)
    verdict = {"confident": float(confident), "unknown_ceiling": float(unknown_ceiling),
               "cloth": cloth.to_dict() if cloth else None}
    np.savez(model_dir / OPEN_SET_FILE, **scorer.arrays(), **(cloth.arrays() if cloth else {}), **enrolment.arrays())
    plot_reliability(softmax(outputs["val"]["logits"]), scaler.transform(outputs["val"]["logits"]), labels["val"],
                     model_dir / RELIABILITY_FILE, "validation split")
    card.calibration = {"temperature": scaler.temperature_,
                        "fitted_on": "validation split" if temperature is None else "given (heads calibrated before)",
                        "val_ece_before": before, "val_ece_after": after}
    card.open_set = scorer.to_dict()
    card.verdict = verdict
    card.save(model_dir)
    if verbose:
        print(f"Calibrated: temperature {scaler.temperature_:.2f} (validation ECE {before:.1%} -> {after:.1%}); "
              f"open-set '{method}' threshold {scorer.threshold_:.3g} accepts {target_accept:.0%} of known validation images"
              + (f"; cloth score threshold {cloth.threshold_:.2f}" if cloth else
                 "; no cloth score (train with --cloth-dir and --unknown-dir to tell 'not sure' from 'not a motif')"))
    return card


def _check_thresholds(confident: float | None, unknown_ceiling: float | None) -> None:
    """The naming thresholds' ranges (None: not given), as `config.TrainConfig` checks them."""
    if confident is not None and not 0 < confident < 1:
        raise ValueError(f"confident must be in (0, 1). Received: confident={confident}.")
    if unknown_ceiling is not None and not 0 < unknown_ceiling <= 1:
        raise ValueError(f"unknown_ceiling must be in (0, 1]. Received: unknown_ceiling={unknown_ceiling}.")


def set_naming_thresholds(model_dir, confident: float | None = None, unknown_ceiling: float | None = None):
    """Change only when a motif is named: the card's `confident` threshold and ceiling on the
    unknown class. Nothing is refitted, so it suits a model refit on train + validation (whose
    validation photos are no longer unseen) and takes a second.

    Raises:
        ValueError: a threshold out of range, neither given, or a model never calibrated.
    """
    from pathlib import Path

    from .model import load_model_folder
    from .verdict import NO_UNKNOWN_CEILING

    if confident is None and unknown_ceiling is None:
        raise ValueError("Give --confident, --unknown-ceiling or both: they are the thresholds to set.")
    _check_thresholds(confident, unknown_ceiling)
    model_dir = Path(model_dir)
    _, _, card = load_model_folder(model_dir)
    if not card.verdict:
        raise ValueError(f"{model_dir} has no thresholds yet: run `sasirangan calibrate {model_dir}` first.")
    given = {"confident": confident, "unknown_ceiling": unknown_ceiling}
    card.verdict = {"unknown_ceiling": NO_UNKNOWN_CEILING, **card.verdict,
                    **{key: float(value) for key, value in given.items() if value is not None}}
    card.save(model_dir)
    return card


def _fit_cloth_scorer(card, outputs: dict, labels: dict, model_dir, model, image_size: int):
    """The cloth score, when the training split has both cloth and pictures that are not cloth.

    It learns from each train picture's views and from `verdict.CLOTH_FRAMES` webcam-like
    frames of it, and its threshold is set on the validation pictures' views and frames: a
    cloth score fitted on views alone judged a third of the webcam frames of cloth "not
    cloth" (BENCHMARKS.md, "Honest answers").
    """
    from .evaluate import webcam_outputs
    from .verdict import CLOTH_FRAMES, CLOTH_INPUTS, LEGACY_CLOTH_INPUTS, ClothScorer, cloth_labels

    cloth_dirs = card.config.get("cloth_dirs", [])
    samples = {split: card.samples(split, model_dir) for split in labels}
    is_cloth = {split: cloth_labels(samples[split], card.unknown_class, cloth_dirs) for split in labels}
    if is_cloth["train"].all() or not is_cloth["train"].any():
        return None
    inputs = CLOTH_INPUTS if all(name in outputs["train"] for name in CLOTH_INPUTS) else LEGACY_CLOTH_INPUTS
    scorer = ClothScorer(inputs=inputs)
    rows, cloth = {}, {}
    for seed, split in enumerate(("train", "val")):
        frames = webcam_outputs(model, samples[split], image_size, CLOTH_FRAMES, seed)
        rows[split] = np.concatenate([scorer.rows(outputs[split]), scorer.rows(frames)]) if frames else scorer.rows(outputs[split])
        cloth[split] = np.concatenate([is_cloth[split], np.repeat(is_cloth[split], CLOTH_FRAMES)]) if frames else is_cloth[split]
    return scorer.fit(rows["train"], cloth["train"], rows["val"], cloth["val"])
