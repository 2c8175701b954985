"""Two-phase transfer learning from a folder of photos to a saved model folder."""

from __future__ import annotations

import datetime
import platform
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from .calibrate import calibrate_model_folder
from .config import UNKNOWN_CLASS, TrainConfig
from .data import SPLITS, make_dataset, scan_folder, split_samples
from .evaluate import evaluate_samples, summary_of
from .model import build_model, save_model_folder
from .plots import plot_training_curves
from .report import build_report


def library_versions() -> dict:
    import keras
    import sklearn
    import tensorflow as tf

    from . import __version__

    return {"sasirangan": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def _callbacks(config: TrainConfig, checkpoint: Path):
    import keras

    return [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True, verbose=1),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=max(1, config.patience // 2),
                                          min_lr=1e-7, verbose=1),
        keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True, verbose=0),
    ]


def _compile(model, learning_rate: float, num_classes: int):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=min(3, num_classes), name="top3")],
    )


def _class_weights(splits, class_names) -> dict[int, float]:
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([class_names.index(s.label) for s in splits["train"]])
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)}


def _lr_reductions(history: dict, offset: int) -> list[int]:
    rates = history.get("learning_rate", [])
    return [offset + i + 1 for i in range(1, len(rates)) if rates[i] < rates[i - 1] - 1e-12]


def train(data_dir, out_dir, config: TrainConfig | None = None, verbose: int = 1) -> Path:
    """Scan, split, train (head, then fine-tuning), evaluate on the test split and save.

    Args:
        data_dir: folder with one sub-folder of photos per class (`unknown` = reject class).
        out_dir: model folder to write (created; files in it are replaced).
        config: TrainConfig; defaults when None.
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.

    Returns:
        The model folder path.
    """
    import keras

    config = config or TrainConfig()
    out_dir = Path(out_dir)
    # Keras warns that fit() ignores shuffle for a tf.data input; ours shuffles in make_dataset.
    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
    started = time.time()
    say = print if verbose else (lambda *a, **k: None)

    scan = scan_folder(data_dir, config.unknown_dirs)
    say(f"Found {len(scan.samples)} images in {len(scan.class_names)} classes: "
        + ", ".join(f"{name} ({count})" for name, count in scan.counts.items()))
    for path, reason in scan.skipped:
        say(f"  skipped {path}: {reason}")
    conflicts = scan.label_conflicts(config.duplicate_distance)
    if conflicts:
        say(f"Warning: {len(conflicts)} pair(s) of near-identical images are filed under different classes "
            "(one of each pair is probably mislabelled; listed in the model card as label_conflicts):")
        for first, second in conflicts[:10]:
            say(f"  {first}  ~  {second}")
    splits = split_samples(scan, config)
    say("Split: " + ", ".join(f"{name} {len(splits[name])}" for name in SPLITS)
        + (" (region crops for classes under %d photos)" % config.samples_per_class if config.samples_per_class else ""))

    keras.utils.set_random_seed(config.seed)
    class_names = scan.class_names
    size = config.image_size
    train_ds = make_dataset(splits["train"], class_names, size, config.batch_size, training=True,
                            augment=config.augment, seed=config.seed, hue=config.hue,
                            blur=config.blur)
    val_ds = make_dataset(splits["val"], class_names, size, config.batch_size)
    class_weight = _class_weights(splits, class_names) if config.class_weights else None

    model = build_model(len(class_names), size, config.weights, config.dense_units, config.dropout)
    backbone = model.get_layer("backbone")
    checkpoints = out_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)

    # Phase 1: train only the new head; the ImageNet features stay as they are.
    say(f"Phase 1: training the head ({config.head_epochs} epochs at most, backbone frozen)")
    backbone.trainable = False
    _compile(model, config.head_learning_rate, len(class_names))
    phase1 = model.fit(train_ds, validation_data=val_ds, epochs=config.head_epochs, class_weight=class_weight,
                       callbacks=_callbacks(config, checkpoints / "phase1_best.keras"), verbose=verbose)
    history = {key: list(map(float, values)) for key, values in phase1.history.items()}
    head_epochs = len(history["loss"])
    events = {"lr_reductions": _lr_reductions(phase1.history, 0),
              "early_stops": [head_epochs] if head_epochs < config.head_epochs else []}

    # Phase 2: unfreeze the top of the backbone and fine-tune slowly. BatchNorm layers stay
    # frozen (and run in inference mode, see build_model); compile again so the change counts.
    if config.fine_tune_layers > 0 and config.fine_tune_epochs > 0:
        best_val_loss = min(history["val_loss"])
        head_weights = model.get_weights()
        backbone.trainable = True
        for layer in backbone.layers[: -config.fine_tune_layers]:
            layer.trainable = False
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        _compile(model, config.fine_tune_learning_rate, len(class_names))
        say(f"Phase 2: fine-tuning the top {config.fine_tune_layers} backbone layers "
            f"({config.fine_tune_epochs} epochs at most, learning rate {config.fine_tune_learning_rate:g})")
        phase2 = model.fit(train_ds, validation_data=val_ds, initial_epoch=head_epochs,
                           epochs=head_epochs + config.fine_tune_epochs, class_weight=class_weight,
                           callbacks=_callbacks(config, checkpoints / "phase2_best.keras"), verbose=verbose)
        for key, values in phase2.history.items():
            history.setdefault(key, []).extend(map(float, values))
        total = len(history["loss"])
        events["lr_reductions"] += _lr_reductions(phase2.history, head_epochs)
        if total - head_epochs < config.fine_tune_epochs:
            events["early_stops"].append(total)
        if min(phase2.history["val_loss"]) > best_val_loss:
            say("Fine-tuning did not improve validation loss; keeping the phase-1 weights.")
            model.set_weights(head_weights)
            events["fine_tuning_kept"] = False
        else:
            events["fine_tuning_kept"] = True
    training_seconds = time.time() - started

    val_metrics = evaluate_samples(model, splits["val"], class_names, size)
    say(f"Validation accuracy {val_metrics['accuracy']:.1%}.")

    card = {
        "format": 1,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "backbone": "MobileNetV2 (alpha 1.0), include_top=False",
        "weights": str(config.weights),
        "input_size": size,
        "preprocessing": {
            "resize": "whole picture squashed to a square, OpenCV INTER_AREA (data.prepare_image)",
            "input_range": [0.0, 1.0],
            "normalisation": "inside the model: Rescaling(2, offset=-1) to MobileNetV2's [-1, 1]",
        },
        "classes": class_names,
        "unknown_class": UNKNOWN_CLASS if UNKNOWN_CLASS in class_names else None,
        "class_counts": scan.counts,
        "data_dir": str(scan.root.resolve()),
        "split_counts": {name: len(splits[name]) for name in SPLITS},
        "split_paths_relative_to": "the model folder",
        "split": {name: [s.to_json(out_dir) for s in splits[name]] for name in SPLITS},
        "skipped_files": [[path, reason] for path, reason in scan.skipped],
        "label_conflicts": [[first, second] for first, second in conflicts],
        "notes": config.notes,
        "config": config.to_dict(),
        "history": history,
        "events": {**events, "head_epochs": head_epochs},
        "training_seconds": round(training_seconds, 1),
        "val_metrics": summary_of(val_metrics),
        "versions": library_versions(),
    }
    save_model_folder(model, class_names, card, out_dir)
    say("Calibrating confidences and the unknown threshold on the validation split ...")
    calibrate_model_folder(out_dir, config.open_set_method, config.target_accept,
                           loaded=(model, class_names, card), verbose=bool(verbose))
    say("Evaluating on the test split ...")
    build_report(out_dir, verbose=bool(verbose))
    plot_training_curves(history, out_dir / "training_curves.png", head_epochs, events)
    shutil.rmtree(checkpoints, ignore_errors=True)  # only needed had training broken off
    say(f"Saved model folder {out_dir}/ (trained in {training_seconds / 60:.1f} min)")
    return out_dir
