"""Metrics on held-out images; the full written report is `sasirangan.report`."""

from __future__ import annotations

from collections import Counter

import numpy as np

from .data import Sample, make_dataset
from .views import WHOLE, Views, average_outputs

EVAL_BATCH = 32


def predict_samples(model, samples, class_names, image_size: int, views: Views = WHOLE) -> np.ndarray:
    """Class probabilities for samples, averaged over their views (no augmentation)."""
    return model_outputs(model, samples, class_names, image_size, views)["probabilities"]


def model_outputs(model, samples, class_names, image_size: int, views: Views = WHOLE) -> dict[str, np.ndarray]:
    """Probabilities, logits, pooled features and embedding per sample, averaged over its views.

    Batched through the evaluation pipeline (`data.make_dataset`, which cuts the views with
    `views.image_views`, the path serving uses too). Labels are not needed: samples of
    pictures that are none of the classes are fine.
    """
    from .model import serving_model

    samples = [Sample(s.path, class_names[0], s.box, s.hide) for s in samples]  # labels are unused here
    if not samples:
        return {}
    dataset = make_dataset(samples, class_names, image_size, EVAL_BATCH, training=False, views=views)
    outputs = serving_model(model).predict(dataset.map(_images_only), verbose=0)
    return average_outputs(outputs, [views.count] * len(samples))


def webcam_outputs(model, samples, image_size: int, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Model outputs of `count` webcam-like frames of each sample (`webcam.webcam_view` of its
    region, held-out regions covered), in sample order, answered as the live path answers
    a frame: the whole frame, one view. A photo that several samples share (regions of one
    cloth) is decoded once; the others are not kept."""
    from .data import load_image
    from .model import serving_model
    from .views import image_views
    from .webcam import webcam_view

    rng = np.random.default_rng(seed)
    serving, decoded, batches, frames = serving_model(model), {}, [], []
    shared = {path for path, uses in Counter(sample.path for sample in samples).items() if uses > 1}

    def flush():
        batches.append(serving.predict(np.stack(frames), batch_size=EVAL_BATCH, verbose=0))
        frames.clear()

    for sample in samples:
        rgb = decoded.get(sample.path)
        if rgb is None:
            rgb = load_image(sample.path)
            if sample.path in shared:
                decoded[sample.path] = rgb
        for _ in range(count):
            frames.append(image_views(webcam_view(sample.covered(rgb), sample.box, rng), image_size, WHOLE)[0])
        if len(frames) >= 8 * EVAL_BATCH:
            flush()
    if frames:
        flush()
    if not batches:
        return {}
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


def _images_only(images, labels):
    return images


def compute_metrics(y_true: np.ndarray, probabilities: np.ndarray, class_names) -> dict:
    """Accuracy, top-3 accuracy, per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import classification_report, confusion_matrix

    labels = list(range(len(class_names)))
    y_pred = probabilities.argmax(axis=1)
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    k = min(3, len(class_names) - 1) if len(class_names) > 2 else 1
    return {
        "images": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else 0.0,
        "accuracy_interval": accuracy_interval(int(np.sum(y_pred == y_true)), len(y_true)),
        "top3_accuracy": _top_k_accuracy(y_true, probabilities, k, labels),
        "per_class": {name: report[name] for name in class_names},
        "macro_avg": report["macro avg"],
        "weighted_avg": report["weighted avg"],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _top_k_accuracy(y_true, probabilities, k: int, labels) -> float:
    """Top-k accuracy; with two classes top-1 (scikit-learn reads a 2-column score as binary and fails)."""
    from sklearn.metrics import top_k_accuracy_score

    if not len(y_true):
        return 0.0
    if len(labels) <= 2:
        return float(np.mean(probabilities.argmax(axis=1) == y_true))
    return float(top_k_accuracy_score(y_true, probabilities, k=k, labels=labels))


def accuracy_interval(correct: int, total: int, confidence: float = 0.95) -> list[float]:
    """Wilson interval for an accuracy: on 43 test images one image moves it 2.3 points,
    and the interval says how far the true accuracy could be from the one measured."""
    from scipy.stats import binomtest

    if total == 0:
        return [0.0, 1.0]
    interval = binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(interval.low), float(interval.high)]


def evaluate_samples(model, samples, class_names, image_size: int, views: Views = WHOLE) -> dict:
    """Closed-set metrics of a Keras model on samples (used during training, before calibration)."""
    index = {name: i for i, name in enumerate(class_names)}
    y_true = np.array([index[s.label] for s in samples])
    return compute_metrics(y_true, predict_samples(model, samples, class_names, image_size, views), class_names)


def summary_of(metrics: dict) -> dict:
    """The headline numbers kept in the model card."""
    keys = ("images", "accuracy", "top3_accuracy")
    summary = {key: metrics[key] for key in keys}
    summary["macro_f1"] = metrics["macro_avg"]["f1-score"]
    summary["per_class_f1"] = {name: row["f1-score"] for name, row in metrics["per_class"].items()}
    return summary


def format_summary(metrics: dict, class_names, label: str = "test split") -> str:
    lines = [
        f"Evaluation on {label}: {metrics['images']} images",
        f"  accuracy {metrics['accuracy']:.1%}{format_interval(metrics.get('accuracy_interval'))}   top-3 {metrics['top3_accuracy']:.1%}   "
        f"macro F1 {metrics['macro_avg']['f1-score']:.3f}",
        f"  {'class':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'images':>6}",
    ]
    for name in class_names:
        row = metrics["per_class"][name]
        lines.append(
            f"  {name:<24} {row['precision']:>9.2f} {row['recall']:>7.2f} {row['f1-score']:>6.2f} {int(row['support']):>6}"
        )
    return "\n".join(lines)


def format_interval(interval) -> str:
    """An interval as ' (95% CI a%-b%)' for summary lines; '' when there is none."""
    return f" (95% CI {interval[0]:.0%}-{interval[1]:.0%})" if interval else ""
