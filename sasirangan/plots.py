"""PNG figures people would rather look at than read: curves and confusion matrices."""

from __future__ import annotations

from pathlib import Path

# Figures are made without pyplot, so drawing files works on servers and in CI and leaves a
# notebook's own plotting backend alone (matplotlib's "web application server" pattern).
import numpy as np
from matplotlib.figure import Figure


def _subplots(*grid, figsize, squeeze=True):
    """pyplot.subplots without pyplot: a figure that only ever goes to a file."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*grid, squeeze=squeeze)


def plot_training_curves(history: dict, path, phase_boundary: int | None = None, events: dict | None = None) -> Path:
    """Accuracy and loss per epoch, train and validation, with the fine-tuning start marked."""
    events = events or {}
    figure, axes = _subplots(1, 2, figsize=(11, 4))
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
    return Path(path)


def plot_confusion_matrix(matrix, class_names, path) -> Path:
    """Counts with true classes as rows; readable up to a few dozen classes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5, 0.55 * len(class_names) + 2)
    figure, axis = _subplots(figsize=(size, size))
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=class_names).plot(
        ax=axis, xticks_rotation=60, colorbar=False, cmap="Blues"
    )
    axis.set_title("Confusion matrix (rows: true class)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return Path(path)


def plot_reliability(before, after, labels, path, title: str = "") -> Path:
    """Reliability diagram: accuracy per confidence bin, before and after temperature scaling."""
    from .calibrate import expected_calibration_error, reliability_bins

    figure, axis = _subplots(figsize=(5, 5))
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
    return Path(path)


def plot_roc(y_true, probabilities, class_names, path) -> dict:
    """One-vs-rest ROC per class plus micro/macro averages; returns the AUCs it drew."""
    from sklearn.metrics import roc_auc_score, roc_curve
    from sklearn.preprocessing import label_binarize

    y_true = np.asarray(y_true)
    onehot = label_binarize(y_true, classes=list(range(len(class_names))))
    if onehot.shape[1] == 1:  # two classes: label_binarize gives one column
        onehot = np.hstack([1 - onehot, onehot])
    aucs: dict = {"per_class": {}}
    figure, axis = _subplots(figsize=(6, 5))
    for k, name in enumerate(class_names):
        if 0 < onehot[:, k].sum() < len(onehot):
            fpr, tpr, _ = roc_curve(onehot[:, k], probabilities[:, k])
            aucs["per_class"][name] = float(roc_auc_score(onehot[:, k], probabilities[:, k]))
            axis.plot(fpr, tpr, linewidth=1, alpha=0.7, label=f"{name} ({aucs['per_class'][name]:.2f})")
    if aucs["per_class"]:
        fpr, tpr, _ = roc_curve(onehot.ravel(), probabilities.ravel())
        aucs["micro"] = float(roc_auc_score(onehot.ravel(), probabilities.ravel()))
        aucs["macro"] = float(np.mean(list(aucs["per_class"].values())))
        axis.plot(fpr, tpr, "k--", linewidth=2, label=f"micro average ({aucs['micro']:.3f})")
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(f"ROC, one class vs rest (macro AUC {aucs.get('macro', float('nan')):.3f})")
    axis.legend(fontsize=6, loc="lower right", ncol=2 if len(class_names) > 10 else 1)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return aucs


def plot_gallery(images, captions, path, columns: int = 4) -> Path:
    """A grid of pictures with captions (e.g. the worst mistakes)."""
    if not images:
        figure, axis = _subplots(figsize=(4, 1))
        axis.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        axis.axis("off")
    else:
        rows = (len(images) + columns - 1) // columns
        figure, axes = _subplots(rows, columns, figsize=(3 * columns, 3.3 * rows), squeeze=False)
        for axis in axes.ravel():
            axis.axis("off")
        for axis, image, caption in zip(axes.ravel(), images, captions):
            axis.imshow(image)
            axis.set_title(caption, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return Path(path)
