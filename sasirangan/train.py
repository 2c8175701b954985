"""Transfer learning from a folder of photos to a saved model folder, as its steps:
scan, split, fit (choosing epochs on validation), calibrate, refit on train + validation,
evaluate on the untouched test split, save.

Phase 1 trains the head on backbone features of random multi-scale crops computed once
(the backbone is frozen, so running it every epoch would only repeat work); phase 2, off by
default by measurement (BENCHMARKS.md), fine-tunes the backbone's top layers on images.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .calibrate import calibrate_model_folder
from .config import UNKNOWN_CLASS, TrainConfig
from .backbones import get_backbone
from .data import SPLITS, Sample, make_dataset, scan_folder, split_samples
from .evaluate import evaluate_samples, summary_of
from .card import CURVES_FILE, ModelCard, write_out_of_fold
from .checkpoints import RunCheckpoint, TrainingInterrupted
from .model import build_model, feature_model, head_backbone_layers, head_layers, head_model, save_model_folder
from .optimizers import make_optimizer, steps
from .plots import plot_training_curves
from .progress import progress
from .report import build_report


def library_versions() -> dict:
    import keras
    import sklearn
    import tensorflow as tf

    from . import __version__

    return {"sasirangan": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def _callbacks(config: TrainConfig, run: RunCheckpoint, phase: str):
    """EarlyStopping, ReduceLROnPlateau (unless a schedule owns the learning rate), and last the
    per-epoch checkpoint that `--resume` continues from (it saves the others' state too)."""
    import keras

    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True, verbose=0),
    ]
    if config.schedule == "constant":  # a schedule owns the learning rate itself
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3,
                                                           patience=max(1, config.patience // 2), min_lr=1e-7, verbose=0))
    return callbacks + [run.epoch_callback(phase, watched=tuple(callbacks))]


def _compile(model, config: TrainConfig, learning_rate: float, num_classes: int, steps_per_epoch: int = 1,
             epochs: int = 1):
    """Compile with the configured optimizer; a schedule spans `epochs` of `steps_per_epoch`."""
    import keras

    model.compile(
        optimizer=make_optimizer(config, learning_rate, steps_per_epoch, epochs),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=min(3, num_classes), name="top3")],
    )


def _class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, so a class with few photos is not drowned by the others."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)}


def _row_weights(labels: np.ndarray, owners: np.ndarray, pictures, class_names, config: TrainConfig):
    """The loss weight of each feature row (None: all equal), for `config.class_weights`.

    With `config.balance_negatives`, the `unknown` class's share is split evenly between the
    folders its pictures came from (`_negative_folders`): 17 photos of Sasirangan cloth with
    other motifs, beside about 400 batik and 370 non-textile pictures, otherwise barely count.
    """
    if not config.class_weights:
        return None
    per_class = _class_weights(labels, len(class_names))
    weights = np.array([per_class[int(label)] for label in labels], np.float64)
    if config.balance_negatives and UNKNOWN_CLASS in class_names:
        folders = np.array(_negative_folders(pictures, config))[owners]
        unknown_rows = labels == class_names.index(UNKNOWN_CLASS)
        names, counts = np.unique(folders[unknown_rows], return_counts=True)
        share = {name: unknown_rows.sum() / (len(names) * count) for name, count in zip(names, counts)}
        weights[unknown_rows] *= [share[name] for name in folders[unknown_rows]]
    return weights


def _negative_folders(pictures, config: TrainConfig) -> list[str]:
    """The folder of negatives each picture came from ("" for a motif's picture): a
    --unknown-dir or --cloth-dir, else the data folder's own unknown/. Compared by resolved
    paths, so a folder of symbolic links counts as itself."""
    import os

    folder_of = {}
    for folder in [*config.unknown_dirs, *config.cloth_dirs]:
        for dirpath, _, filenames in os.walk(folder, followlinks=True):
            for name in filenames:
                folder_of.setdefault(os.path.realpath(os.path.join(dirpath, name)), str(folder))
    return ["" if p.label != UNKNOWN_CLASS else folder_of.get(os.path.realpath(p.path), "unknown/")
            for p in pictures]


def _lr_reductions(history: dict, offset: int) -> list[int]:
    rates = history.get("learning_rate", [])
    return [offset + i + 1 for i in range(1, len(rates)) if rates[i] < rates[i - 1] - 1e-12]


def train(data_dir, out_dir, config: TrainConfig | None = None, verbose: int = 1, splits: dict | None = None,
          resume: bool = False) -> Path:
    """Scan, split, fit (choosing epochs on validation), calibrate, refit, evaluate and save.

    Args:
        data_dir: folder with one sub-folder of photos per class (`unknown` = reject class).
        out_dir: model folder to write (created; files in it are replaced).
        config: TrainConfig; defaults when None. Checked before anything else happens.
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.
        splits: {"train", "val", "test": [Sample]} from `split_samples` (the split a notebook
            has shown); None splits here, with the same function and config.
        resume: continue the run interrupted in `out_dir` (its split, features and last
            finished epoch are in out_dir/checkpoints), with the same settings.

    Raises:
        TrainingInterrupted: Ctrl+C; the checkpoints stay, and the message says how to resume.

    Returns:
        The model folder path.
    """
    config = (config or TrainConfig()).check()
    if resume and splits is not None:
        raise ValueError("resume=True continues with the interrupted run's own split; do not pass splits as well.")
    out_dir = Path(out_dir)
    # Keras warns that fit() ignores shuffle for a tf.data input; ours shuffles in make_dataset.
    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
    started = time.time()
    say = print if verbose else (lambda *a, **k: None)

    scan, conflicts = _scan(data_dir, config, say, show_progress=verbose == 1)
    run = RunCheckpoint(out_dir)
    if resume:
        splits = check_splits(run.resume(config, scan), scan)
        say(f"Resuming the interrupted run from {run.folder}/: {run.summary()}")
        in_split = {os.path.realpath(s.path) for name in SPLITS for s in splits[name]}
        new = [s.path for s in scan.samples if os.path.realpath(s.path) not in in_split]
        if new:
            say(f"Warning: {len(new)} photo(s) found now were not there when the run began (e.g. {new[0]}); the "
                "resumed run leaves them out. Run without --resume to train on them too.")
        started -= run.state.get("seconds", 0.0)  # the card's training time counts the sessions before too
    else:
        if run.exists:
            say(f"Starting afresh: the interrupted run's checkpoints in {run.folder}/ are replaced "
                "(--resume would have continued it)")
        splits = split_samples(scan, config) if splits is None else check_splits(splits, scan)
        run.begin(config, scan, splits)
    try:
        return _train_steps(scan, conflicts, splits, out_dir, config, run, verbose, say, started)
    except KeyboardInterrupt:
        run.record_seconds(time.time() - started)
        message = (f"Training interrupted. Kept in {run.folder}/: {run.summary()}. Run the same command with "
                   "--resume (train(..., resume=True)) to continue from there.")
        print(message, file=sys.stderr, flush=True)
        raise TrainingInterrupted(message) from None


def _train_steps(scan, conflicts, splits, out_dir: Path, config: TrainConfig, run: RunCheckpoint, verbose: int, say,
                 started: float) -> Path:
    """train()'s steps after the split, checkpointed in `run` as they finish."""
    import keras

    say("Split: " + ", ".join(f"{name} {len(splits[name])}" for name in SPLITS)
        + (" (region crops for classes under %d photos)" % config.samples_per_class if config.samples_per_class else ""))
    keras.utils.set_random_seed(config.seed)
    class_names = scan.class_names
    model = build_model(len(class_names), config.image_size, config.weights, config.dense_units, config.dropout,
                        config.backbone, config.weight_decay, config.stn, config.features)
    _check_freeze(model, config)

    features = _crop_features(model, splits, class_names, config, say, show_progress=verbose == 1, run=run)
    fitted = _fit(model, features, splits, class_names, config, run, verbose)
    cross_validation = _cross_validate(model, features, splits, scan, config, fitted, say) if config.folds > 1 else None
    val_metrics = evaluate_samples(model, splits["val"], class_names, config.image_size, config.views)
    say(f"Validation accuracy {val_metrics['accuracy']:.1%} (averaged over {config.views.count} views a picture).")

    card = _card(scan, splits, conflicts, config, fitted, val_metrics, cross_validation, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say("Calibrating confidences and the unknown threshold on the validation split ...")
    card = calibrate_model_folder(out_dir, config.open_set_method, config.target_accept, config.confident,
                                  loaded=(model, class_names, card), verbose=bool(verbose))
    if config.refit:
        if fitted["events"].get("fine_tuning_kept"):  # the backbone moved: the crops' features must be computed again
            features = _crop_features(model, splits, class_names, config, say, show_progress=verbose == 1)
        _refit(model, features, splits, fitted, class_names, config, say)
        card.refit = {"on": ["train", "val"], "head_epochs": fitted["head_epochs"],
                      "note": "temperature and unknown threshold were fitted on validation before the refit"}
    if config.cloth_folds > 1 and config.cloth_dirs:
        write_out_of_fold(out_dir, _cloth_out_of_fold(model, features, splits, fitted, class_names, config, say))
    card.training_seconds = round(time.time() - started, 1)
    save_model_folder(model, class_names, card, out_dir)
    say("Evaluating on the test split ...")
    build_report(out_dir, verbose=bool(verbose))
    events = fitted["events"]
    plot_training_curves(fitted["history"], out_dir / CURVES_FILE, events["head_epochs"], events)
    run.clear()  # only needed had training broken off
    say(f"Saved model folder {out_dir}/ (trained in {card.training_seconds / 60:.1f} min)")
    return out_dir


def check_splits(splits: dict, scan) -> dict:
    """A split made outside train() (a notebook's) must be of this scan's photos and classes,
    with pictures to train on and to choose epochs and thresholds on."""
    missing = [name for name in SPLITS if name not in splits]
    if missing:
        raise ValueError(f"splits needs the keys {', '.join(SPLITS)}; missing: {', '.join(missing)}.")
    for name in ("train", "val"):
        if not splits[name]:
            raise ValueError(f"The {name} split is empty: it needs at least one picture. Make the split with "
                             "sasirangan.data.split_samples(scan, config).")
    scanned_path = {os.path.realpath(sample.path): sample.path for sample in scan.samples}
    checked = {name: [] for name in SPLITS}
    for name in SPLITS:
        for sample in splits[name]:
            if sample.label not in scan.class_names:
                raise ValueError(f"The {name} split has a picture of class {sample.label!r}, which is not a class "
                                 f"of {scan.root}: {', '.join(scan.class_names)}.")
            path = scanned_path.get(os.path.realpath(sample.path))
            if path is None:
                raise ValueError(f"The {name} split has {sample.path}, which is not among the photos found in "
                                 f"{scan.root} (was the split made from another folder, or was the photo removed?).")
            checked[name].append(dataclasses.replace(sample, path=path))  # the path as this scan spells it
    return checked


def _scan(data_dir, config: TrainConfig, say, show_progress: bool = False):
    """Find the photos, report what was skipped and which pictures carry two labels."""
    scan = scan_folder(data_dir, [*config.unknown_dirs, *config.cloth_dirs], show_progress=show_progress)
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
    return scan, conflicts


def _crop_features(model, splits, class_names, config: TrainConfig, say, show_progress: bool = False,
                   run: RunCheckpoint | None = None) -> dict:
    """Pooled backbone features of what phase 1 trains on, computed once (the backbone is
    frozen): for each train and val picture, `crop_passes` random crops between close-up and
    whole-picture scale with the camera-like augmentation, `camera_passes` webcam-like frames of
    it (`data.make_dataset(camera=True)`), and its evaluation views (the whole picture and its
    close-ups, exactly what the model will be asked about).

    Returns {split: (features, labels, picture index of each row)} for "train" and "val", and
    {split + "_views": (features averaged over each picture's views, labels)}: how the model
    will see each picture, for early stopping and cross-validation.

    With `run`, each split's features are kept in its checkpoints, and read back from there
    when the run is resumed.
    """
    extractor = feature_model(model)
    views = config.views
    result = {}
    for split in ("train", "val"):
        samples = splits[split]
        if run is not None and run.done(f"features_{split}"):
            say(f"Reusing the {split} pictures' crop features computed before the interruption")
            x, y, owners, view_x, view_y = run.load_arrays(f"features_{split}")
            result[split], result[f"{split}_views"] = (x, y, owners), (view_x, view_y)
            continue
        say(f"Computing features of {config.crop_passes} random crops and {views.count} views of each of the "
            f"{len(samples)} {split} pictures ...")
        crops = make_dataset(_indexed(samples), [str(i) for i in range(len(samples))], config.image_size,
                             config.batch_size, training=True, augment=config.augment, seed=config.seed,
                             hue=config.hue, blur=config.blur, views=views, passes=config.crop_passes,
                             tilt=config.tilt, perspective=config.perspective)
        features, owners = [], []
        if config.camera_passes:
            say(f"  ... and {config.camera_passes} webcam-like views of each")
            crops = crops.concatenate(make_dataset(
                _indexed(samples), [str(i) for i in range(len(samples))], config.image_size, config.batch_size,
                training=True, augment=config.augment, seed=config.seed, hue=config.hue, views=views,
                passes=config.camera_passes, camera=True, camera_zoom=config.camera_zoom))
        batches = steps(len(samples) * (config.crop_passes + config.camera_passes), config.batch_size)
        for images, picture in progress(crops, batches, f"Crop features ({split})", "batch", enabled=show_progress):
            features.append(extractor(images, training=False).numpy())
            owners.append(picture.numpy())
        per_view = make_dataset(samples, class_names, config.image_size, config.batch_size, views=views)
        view_features = extractor.predict(per_view.map(lambda images, labels: images), verbose=0)
        features.append(view_features)
        owners.append(np.repeat(np.arange(len(samples)), views.count))
        owners = np.concatenate(owners)
        labels = np.array([class_names.index(samples[i].label) for i in owners])
        result[split] = (np.concatenate(features), labels, owners)
        result[f"{split}_views"] = (view_features.reshape(len(samples), views.count, -1).mean(axis=1),
                                    np.array([class_names.index(s.label) for s in samples]))
        if run is not None:
            run.save_arrays(f"features_{split}", [*result[split], *result[f"{split}_views"]])
            run.mark_done(f"features_{split}")
    return result


def _indexed(samples) -> list[Sample]:
    """The samples labelled by their own position, so a shuffled pipeline says whose crop it is."""
    return [Sample(s.path, str(i), s.box, s.hide) for i, s in enumerate(samples)]


def _fit_head(model, x, y, config: TrainConfig, row_weights, validation=None, epochs=None, verbose=0,
              run: RunCheckpoint | None = None):
    """Phase 1: the head on frozen features, with EarlyStopping and ReduceLROnPlateau (and a
    checkpoint every epoch in `run`) when a validation set is given, else for a fixed number of
    epochs (the refit, the folds)."""
    head = head_model(model)
    model.get_layer("standardise").adapt(x)
    epochs = epochs or config.head_epochs
    _compile(head, config, config.head_learning_rate, model.output_shape[-1], steps(len(x), config.batch_size), epochs)
    if validation is None:
        history = head.fit(x, y, batch_size=config.batch_size, epochs=epochs, sample_weight=row_weights, shuffle=True,
                           verbose=verbose)
        return {key: list(map(float, values)) for key, values in history.history.items()}
    callbacks = _callbacks(config, run, "head")
    checkpoint = callbacks[-1]
    if checkpoint.stopped:  # EarlyStopping had ended phase 1 before the interruption: no more epochs
        epochs = checkpoint.initial_epoch
    head.fit(x, y, batch_size=config.batch_size, initial_epoch=checkpoint.initial_epoch, epochs=epochs,
             validation_data=validation, sample_weight=row_weights, callbacks=callbacks, shuffle=True, verbose=verbose)
    return checkpoint.history


def _fit(model, features, splits, class_names, config: TrainConfig, run: RunCheckpoint, verbose: int) -> dict:
    """Phase 1 (head on frozen crop features), then phase 2 (fine-tuning) if configured; a
    phase finished before an interruption is read back from `run` instead."""
    say = print if verbose else (lambda *a, **k: None)
    x, y, owners = features["train"]
    class_weight = _class_weights(y, len(class_names)) if config.class_weights else None  # phase 2's, per picture
    row_weights = _row_weights(y, owners, splits["train"], class_names, config)
    if not run.done("initial_head"):  # the refit and each fold start afresh from these
        run.save_arrays("initial_head", [w for layer in head_layers(model) for w in layer.get_weights()])
        run.mark_done("initial_head")
    initial_head = _per_layer(model, run.load_arrays("initial_head"))
    fitted = {"class_weight": class_weight, "initial_head": initial_head}
    if run.done("head"):
        say("Phase 1 finished before the interruption: its head is read back")
        fitted.update(run.done("head"))
        model.set_weights(run.load_arrays("head_model"))
    else:
        resumed = run.epochs_done("head")
        say(f"Phase 1: training the head on {len(x)} crops and views ({config.head_epochs} epochs at most, backbone frozen)"
            + (f", resuming after epoch {resumed}" if resumed else ""))
        history = _fit_head(model, x, y, config, row_weights, validation=features["val_views"], verbose=verbose, run=run)
        events = {"lr_reductions": _lr_reductions(history, 0),
                  "early_stops": [len(history["loss"])] if len(history["loss"]) < config.head_epochs else [],
                  "head_epochs": len(history["loss"])}
        fitted.update(history=history, events=events,
                      head_epochs=int(np.argmin(history["val_loss"])) + 1)  # the epoch EarlyStopping restored
        run.save_arrays("head_model", model.get_weights())
        run.mark_done("head", {key: fitted[key] for key in ("history", "events", "head_epochs")})
    if config.fine_tune_epochs > 0 and (config.fine_tune_layers or config.freeze or config.stn):
        if run.done("fine_tune"):
            say("Phase 2 finished before the interruption: its weights are read back")
            fitted.update(run.done("fine_tune"))
            model.set_weights(run.load_arrays("fine_tune_model"))
        else:
            _fine_tune(model, splits, class_names, config, fitted, run, verbose)
            run.save_arrays("fine_tune_model", model.get_weights())
            run.mark_done("fine_tune", {key: fitted[key] for key in ("history", "events")})
    return fitted


def _per_layer(model, flat: list) -> list[list]:
    """Flat head weights back into one list per head layer (as Layer.set_weights takes them)."""
    per_layer, start = [], 0
    for layer in head_layers(model):
        count = len(layer.get_weights())
        per_layer.append(flat[start:start + count])
        start += count
    return per_layer


def _fine_tune(model, splits, class_names, config: TrainConfig, fitted: dict, run: RunCheckpoint, verbose: int) -> None:
    """Phase 2: unfreeze the top of the backbone (or all but its first `freeze` layers) and
    the spatial transformer, and fine-tune slowly on random crops, judged on the whole
    validation pictures; kept only if it lowers the validation loss."""
    say = print if verbose else (lambda *a, **k: None)
    history, events = fitted["history"], fitted["events"]
    train_ds = make_dataset(splits["train"], class_names, config.image_size, config.batch_size, training=True,
                            augment=config.augment, seed=config.seed, hue=config.hue, blur=config.blur, views=config.views,
                            tilt=config.tilt, perspective=config.perspective)
    val_ds = make_dataset(splits["val"], class_names, config.image_size, config.batch_size)
    _compile(model, config, config.head_learning_rate, len(class_names))
    best_val_loss = model.evaluate(val_ds, verbose=0)[0]
    head_weights = model.get_weights()
    backbone = model.get_layer("backbone")
    unfreeze(backbone, config)
    steps_per_epoch = steps(len(splits["train"]), config.batch_size)
    _compile(model, config, config.fine_tune_learning_rate, len(class_names), steps_per_epoch,
             config.fine_tune_epochs)  # compile again so the change counts
    what = [f"the top {config.fine_tune_layers} backbone layers"] if config.fine_tune_layers else []
    what += [f"the backbone but its first {config.freeze} layers"] if config.freeze else []
    what += ["the spatial transformer"] if config.stn else []
    resumed = run.epochs_done("fine_tune")
    say(f"Phase 2: fine-tuning {' and '.join(what)} and the head "
        f"({config.fine_tune_epochs} epochs at most, learning rate {config.fine_tune_learning_rate:g}, {config.optimizer}, "
        f"{config.schedule})" + (f", resuming after epoch {resumed}" if resumed else ""))
    start = len(history["loss"])
    callbacks = _callbacks(config, run, "fine_tune")
    checkpoint = callbacks[-1]
    epochs = checkpoint.initial_epoch if checkpoint.stopped else config.fine_tune_epochs  # stopped: no more epochs
    model.fit(train_ds, validation_data=val_ds, initial_epoch=start + checkpoint.initial_epoch, epochs=start + epochs,
              class_weight=fitted["class_weight"], callbacks=callbacks, verbose=verbose)
    phase2 = checkpoint.history
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        history.setdefault(key, []).extend(phase2.get(key, []))
    events["lr_reductions"] += _lr_reductions(phase2, start)
    if len(phase2["loss"]) < config.fine_tune_epochs:
        events["early_stops"].append(len(history["loss"]))
    events["fine_tuning_kept"] = min(phase2["val_loss"]) <= best_val_loss
    backbone.trainable = False
    if not events["fine_tuning_kept"]:
        say("Fine-tuning did not improve validation loss; keeping the phase-1 weights.")
        model.set_weights(head_weights)


def unfreeze(backbone, config: TrainConfig) -> None:
    """Make phase 2's layers trainable: the top `fine_tune_layers`, or all but the first
    `freeze` (neither: the backbone stays frozen, as for a spatial transformer alone).
    BatchNorm stays frozen, and in inference mode (see build_model)."""
    import keras

    backbone.trainable = bool(config.fine_tune_layers or config.freeze)
    if backbone.trainable:
        head_part = head_backbone_layers(backbone)
        first_trained = config.freeze or max(0, len(head_part) - config.fine_tune_layers)
        head_ids = {id(layer) for layer in head_part}
        for index, layer in enumerate(backbone.layers):
            layer.trainable = (index >= first_trained and id(layer) in head_ids
                               and not isinstance(layer, keras.layers.BatchNormalization))


def _refit(model, features, splits, fitted: dict, class_names, config: TrainConfig, say) -> None:
    """Retrain the head on train + validation crops for the epochs chosen on validation: the
    saved model then learns from every photo but the test split. (A fine-tuned backbone is
    kept as it is; only the head is refitted, on features of the fine-tuned backbone.)"""
    x = np.concatenate([features["train"][0], features["val"][0]])
    y = np.concatenate([features["train"][1], features["val"][1]])
    owners = np.concatenate([features["train"][2], features["val"][2] + len(splits["train"])])
    row_weights = _row_weights(y, owners, splits["train"] + splits["val"], class_names, config)
    say(f"Refit: the head on train + validation ({len(x)} crops and views, {fitted['head_epochs']} epochs) for the saved model")
    _reset_head(model, fitted)
    _fit_head(model, x, y, config, row_weights, epochs=fitted["head_epochs"])


def _cloth_out_of_fold(model, features, splits, fitted: dict, class_names, config: TrainConfig, say) -> dict:
    """Logits of every --cloth-dir picture of train + validation from a head that never saw it.

    The head is fitted `config.cloth_folds` times as the refit is (train + validation, the
    same epochs), each time without a K-th of those pictures (a K-th of each folder), and
    answers the pictures it went without from their evaluation views, averaged as
    `views.average_outputs` averages them. The saved head has learnt these pictures, so only
    these answers say what it makes of cloth of other motifs when choosing the thresholds
    (benchmarks/honest_answers.py --sweep). The model's weights are as before afterwards.

    Returns {picture path: averaged logits}.
    """
    pictures = splits["train"] + splits["val"]
    folders = _negative_folders(pictures, config)
    rng = np.random.default_rng(config.split_random_state)
    fold_of = {}
    for folder in sorted({str(f) for f in config.cloth_dirs}):
        members = [i for i, owner in enumerate(folders) if owner == folder]
        rng.shuffle(members)
        fold_of.update({index: position % config.cloth_folds for position, index in enumerate(members)})
    if not fold_of:
        return {}
    x = np.concatenate([features["train"][0], features["val"][0]])
    y = np.concatenate([features["train"][1], features["val"][1]])
    owners = np.concatenate([features["train"][2], features["val"][2] + len(splits["train"])])
    count = config.views.count  # each split's rows end with every picture's evaluation views, in order
    views = np.concatenate([features[split][0][-len(splits[split]) * count:].reshape(len(splits[split]), count, -1)
                            for split in ("train", "val")])
    kept_weights = model.get_weights()
    head = head_model(model, probabilities=False)
    logits = {}
    for fold in range(config.cloth_folds):
        held = np.array([index for index, k in fold_of.items() if k == fold])
        if not len(held):
            continue
        say(f"Out-of-fold answers for cloth pictures: fold {fold + 1}/{config.cloth_folds}, "
            f"the head fitted without {len(held)} of them")
        rows = ~np.isin(owners, held)
        _reset_head(model, fitted)
        _fit_head(model, x[rows], y[rows], config,
                  _row_weights(y[rows], owners[rows], pictures, class_names, config), epochs=fitted["head_epochs"])
        answers = head.predict(views[held].reshape(len(held) * count, -1), verbose=0).reshape(len(held), count, -1)
        logits.update({pictures[index].path: answer.mean(axis=0) for index, answer in zip(held, answers)})
    model.set_weights(kept_weights)
    return logits


def _reset_head(model, fitted: dict) -> None:
    """Back to the head's initial weights: a refit or a fold must not start from a head that
    has already seen the pictures it is judged on."""
    for layer, weights in zip(head_layers(model), fitted["initial_head"]):
        layer.set_weights(weights)


def _cross_validate(model, features, splits, scan, config: TrainConfig, fitted: dict, say) -> dict:
    """K-fold cross-validated accuracy of phase 1 on train + validation pictures: on a small
    dataset the honest figure, with its interval. Each fold trains the head for the epochs
    chosen on validation; crops of one photo and near-duplicate photos stay in one fold; each
    held-out picture is judged on its averaged views, as the saved model will be."""
    from sklearn.model_selection import StratifiedGroupKFold

    from .data import duplicate_groups
    from .evaluate import accuracy_interval

    class_names = scan.class_names
    pictures = splits["train"] + splits["val"]
    x = np.concatenate([features["train"][0], features["val"][0]])
    y = np.concatenate([features["train"][1], features["val"][1]])
    owner = np.concatenate([features["train"][2], features["val"][2] + len(splits["train"])])
    labels = np.array([class_names.index(s.label) for s in pictures])
    paths = sorted({s.path for s in pictures})
    group_of = dict(zip(paths, duplicate_groups(paths, scan.hashes, config.duplicate_distance)))
    groups = [group_of[s.path] for s in pictures]
    view_features = np.concatenate([features["train_views"][0], features["val_views"][0]])
    fitted_weights = model.get_weights()
    correct = np.zeros(len(pictures), dtype=bool)
    folds = StratifiedGroupKFold(config.folds, shuffle=True, random_state=config.split_random_state)
    for fold, (_, held) in enumerate(folds.split(labels, labels, groups), 1):
        train_rows = ~np.isin(owner, held)
        row_weights = _row_weights(y[train_rows], owner[train_rows], pictures, class_names, config)
        _reset_head(model, fitted)
        _fit_head(model, x[train_rows], y[train_rows], config, row_weights, epochs=fitted["head_epochs"])
        predicted = np.asarray(head_model(model)(view_features[held], training=False)).argmax(axis=1)
        correct[held] = predicted == labels[held]
        say(f"  fold {fold}/{config.folds}: {correct[held].mean():.1%} of {len(held)} pictures")
    model.set_weights(fitted_weights)
    interval = accuracy_interval(int(correct.sum()), len(correct))
    say(f"{config.folds}-fold cross-validated accuracy {correct.mean():.1%} (95% CI {interval[0]:.0%}-{interval[1]:.0%}) "
        f"on {len(correct)} train + validation pictures")
    return {"folds": config.folds, "accuracy": float(correct.mean()), "accuracy_interval": interval,
            "images": len(correct), "note": "phase 1 (the head) only, for the epochs chosen on validation"}


def _check_freeze(model, config: TrainConfig) -> None:
    """A --freeze that leaves no backbone layer to train fails now, not after phase 1."""
    layers = len(head_backbone_layers(model.get_layer("backbone")))
    if config.freeze >= layers:
        raise ValueError(f"freeze must be below the backbone's {layers} layers ({config.backbone}). "
                         f"Received: freeze={config.freeze}.")


def _card(scan, splits, conflicts, config: TrainConfig, fitted: dict, val_metrics: dict, cross_validation,
          out_dir) -> ModelCard:
    """What the model folder will say about this model (calibration and metrics come later)."""
    row = get_backbone(config.backbone)
    return ModelCard(
        classes=scan.class_names,
        input_size=config.image_size,
        backbone=config.backbone,
        views=config.views.to_dict(),
        created=datetime.datetime.now().isoformat(timespec="seconds"),
        backbone_description=row.description,
        weights=str(config.weights),
        preprocessing={
            "resize": "picture squashed to a square, OpenCV INTER_AREA; answers average the whole picture and "
                      "a grid of close-up tiles of it enlarged (views; sasirangan.views.image_views)",
            "input_range": [0.0, 1.0],
            "normalisation": row.normalisation,
        },
        unknown_class=UNKNOWN_CLASS if UNKNOWN_CLASS in scan.class_names else None,
        class_counts=scan.counts,
        data_dir=str(scan.root.resolve()),
        split_counts={name: len(splits[name]) for name in SPLITS},
        split={name: [s.to_json(out_dir) for s in splits[name]] for name in SPLITS},
        skipped_files=[[path, reason] for path, reason in scan.skipped],
        label_conflicts=[[first, second] for first, second in conflicts],
        notes=config.notes,
        config=config.to_dict(),
        history=fitted["history"],
        events=fitted["events"],
        val_metrics=summary_of(val_metrics),
        cross_validation=cross_validation,
        versions=library_versions(),
    )
