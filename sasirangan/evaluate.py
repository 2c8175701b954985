"""Honest evaluation: metrics, confusion matrix and a per-image table on held-out images."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from .data import Sample, make_dataset, scan_folder
from .model import load_model_folder, read_card, write_card

EVAL_BATCH = 32


def predict_samples(model, samples, class_names, image_size: int) -> np.ndarray:
    """Class probabilities for samples, through the same pipeline as training (no augmentation)."""
    return model_outputs(model, samples, class_names, image_size)["probabilities"]


def model_outputs(model, samples, class_names, image_size: int) -> dict[str, np.ndarray]:
    """Probabilities, logits and pooled features for samples (evaluation pipeline, batched)."""
    from .model import serving_model

    labels = [s.label if s.label in class_names else class_names[0] for s in samples]  # labels unused here
    samples = [Sample(s.path, label, s.box) for s, label in zip(samples, labels)]
    dataset = make_dataset(samples, class_names, image_size, EVAL_BATCH, training=False)
    return serving_model(model).predict(dataset.map(lambda images, labels: images), verbose=0)


def compute_metrics(y_true: np.ndarray, probabilities: np.ndarray, class_names) -> dict:
    """Accuracy, top-3 accuracy, per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import classification_report, confusion_matrix, top_k_accuracy_score

    labels = list(range(len(class_names)))
    y_pred = probabilities.argmax(axis=1)
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    k = min(3, len(class_names) - 1) if len(class_names) > 2 else 1
    return {
        "images": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else 0.0,
        "top3_accuracy": float(top_k_accuracy_score(y_true, probabilities, k=k, labels=labels)) if len(y_true) else 0.0,
        "per_class": {name: report[name] for name in class_names},
        "macro_avg": report["macro avg"],
        "weighted_avg": report["weighted avg"],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def write_report(metrics: dict, samples, probabilities, class_names, out_dir, root=None) -> Path:
    """Write metrics.json, confusion_matrix.{png,csv} and predictions.csv into out_dir."""
    from .plots import plot_confusion_matrix

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    matrix = np.array(metrics["confusion_matrix"])
    with open(out_dir / "confusion_matrix.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, matrix):
            writer.writerow([name, *row.tolist()])
    plot_confusion_matrix(matrix, class_names, out_dir / "confusion_matrix.png")
    with open(out_dir / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "box", "true", "predicted", "confidence"])
        for sample, row in zip(samples, probabilities):
            file = os.path.relpath(sample.path, root) if root else sample.path
            box = " ".join(f"{v:.3f}" for v in sample.box) if sample.box else ""
            writer.writerow([file, box, sample.label, class_names[int(row.argmax())], f"{row.max():.4f}"])
    return out_dir


def evaluate_samples(model, samples, class_names, image_size: int, out_dir=None, root=None) -> dict:
    """Predict, score and (optionally) write the report for a list of samples."""
    index = {name: i for i, name in enumerate(class_names)}
    y_true = np.array([index[s.label] for s in samples])
    probabilities = predict_samples(model, samples, class_names, image_size)
    metrics = compute_metrics(y_true, probabilities, class_names)
    if out_dir is not None:
        write_report(metrics, samples, probabilities, class_names, out_dir, root)
    return metrics


def evaluate_model_folder(model_dir, data_dir=None, verbose: bool = True) -> dict:
    """Evaluate a saved model on its own test split, or on every image of `data_dir`.

    Raises:
        FileNotFoundError: the model folder, or the data folder its test split came from.
        ValueError: `data_dir` has classes the model does not know.
    """
    model_dir = Path(model_dir)
    model, class_names, card = load_model_folder(model_dir)
    image_size = int(model.input_shape[1])
    if data_dir is None:
        split = card.get("split", {}).get("test")
        if not split:
            raise ValueError(f"{model_dir} has no saved test split; pass a DATA_DIR to evaluate on.")
        root = Path(card["data_dir"])
        samples = [Sample.from_json(item, model_dir) for item in split]
        missing = [s.path for s in samples if not Path(s.path).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} test image(s) of this model are gone (first: {missing[0]}). "
                f"The model was trained on '{root}'; pass DATA_DIR to evaluate on another folder."
            )
        out_dir, label = model_dir / "evaluation", "test split"
    else:
        scan = scan_folder(data_dir)
        unknown_classes = sorted(set(scan.class_names) - set(class_names))
        if unknown_classes:
            raise ValueError(
                f"'{data_dir}' has class folder(s) the model does not know: {', '.join(unknown_classes)}. "
                f"The model knows: {', '.join(class_names)}."
            )
        samples, root = scan.samples, scan.root
        out_dir, label = model_dir / f"evaluation_{Path(data_dir).resolve().name}", f"'{data_dir}'"
        _print_skipped(scan.skipped, verbose)
    metrics = evaluate_samples(model, samples, class_names, image_size, out_dir, root)
    if data_dir is None:
        card["test_metrics"] = summary_of(metrics)
        write_card(card, model_dir)
    if verbose:
        print(format_summary(metrics, class_names, label))
        print(f"Report written to {out_dir}/")
    return metrics


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
        f"  accuracy {metrics['accuracy']:.1%}   top-3 {metrics['top3_accuracy']:.1%}   "
        f"macro F1 {metrics['macro_avg']['f1-score']:.3f}",
        f"  {'class':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'images':>6}",
    ]
    for name in class_names:
        row = metrics["per_class"][name]
        lines.append(
            f"  {name:<24} {row['precision']:>9.2f} {row['recall']:>7.2f} {row['f1-score']:>6.2f} {int(row['support']):>6}"
        )
    return "\n".join(lines)


def _print_skipped(skipped, verbose: bool) -> None:
    if verbose and skipped:
        print(f"Skipped {len(skipped)} unreadable file(s):")
        for path, reason in skipped[:20]:
            print(f"  {path}: {reason}")
        if len(skipped) > 20:
            print(f"  ... and {len(skipped) - 20} more")


__all__ = ["evaluate_model_folder", "evaluate_samples", "compute_metrics", "read_card"]
