"""PNG figures people would rather look at than read: curves and confusion matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_training_curves(history: dict, path, phase_boundary: int | None = None, events: dict | None = None) -> Path:
    """Accuracy and loss per epoch, train and validation, with the fine-tuning start marked."""
    events = events or {}
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for axis, metric in zip(axes, ("accuracy", "loss")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(epochs, values, style, label=("validation " if prefix else "train ") + metric)
        if phase_boundary:
            axis.axvline(phase_boundary + 0.5, color="grey", linestyle=":", label="fine-tuning starts")
        for epoch in events.get("lr_reductions", []):
            axis.axvline(epoch, color="orange", alpha=0.4, linewidth=1)
        for epoch in events.get("early_stops", []):
            axis.axvline(epoch, color="red", alpha=0.6, linewidth=1)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    if events.get("lr_reductions") or events.get("early_stops"):
        axes[1].text(0.99, 0.99, "orange: LR reduced  red: early stop", transform=axes[1].transAxes,
                     ha="right", va="top", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_confusion_matrix(matrix, class_names, path) -> Path:
    """Counts with true classes as rows; readable up to a few dozen classes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5, 0.55 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=class_names).plot(
        ax=axis, xticks_rotation=60, colorbar=False, cmap="Blues"
    )
    axis.set_title("Confusion matrix (rows: true class)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_reliability(before, after, labels, path, title: str = "") -> Path:
    """Reliability diagram: accuracy per confidence bin, before and after temperature scaling."""
    from .calibrate import expected_calibration_error, reliability_bins

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for probabilities, name, marker in ((before, "before", "o"), (after, "after", "s")):
        centres, accuracy, counts = reliability_bins(probabilities, labels)
        ece = expected_calibration_error(probabilities, labels)
        keep = counts > 0
        axis.plot(centres[keep], accuracy[keep], marker + "-", label=f"{name} scaling (ECE {ece:.1%})")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_title("Reliability" + (f" on the {title}" if title else ""))
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
