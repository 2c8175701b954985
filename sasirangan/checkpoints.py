"""What an interrupted `train()` has done, kept in OUT/checkpoints so `--resume` continues it.

Saved as the run goes: the split, the crops' features (the longest step of the default recipe),
and at the end of every epoch of phase 1 and phase 2 the weights, the optimizer's state, the
history so far and the early-stopping and learning-rate callbacks' state. A resumed run loses at
most the epoch it was in. A finished run deletes the folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .data import SPLITS, Sample

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "state.json"
FORMAT = 1
_CALLBACK_STATE = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")


class NothingToResume(FileNotFoundError):
    """--resume was given, but the model folder holds no interrupted run."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl+C during training: the message says what is kept and how to resume."""


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary file and rename it, so a Ctrl+C mid-write leaves the old file whole."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def _save_arrays(path: Path, arrays: list) -> None:
    def write(target):
        with open(target, "wb") as file:
            np.savez(file, *arrays)

    _write_atomically(path, write)


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


class RunCheckpoint:
    """The checkpoints folder of one model folder: the run's settings and split, and the steps done."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / CHECKPOINTS_DIR
        self.state: dict = {"done": {}, "epochs": {}}  # begin() or resume() fill in the run

    @property
    def exists(self) -> bool:
        return (self.folder / STATE_FILE).is_file()

    def begin(self, config, scan, splits: dict) -> None:
        """Start a new run's checkpoints (an interrupted run's are replaced)."""
        self.clear()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state = {"format": FORMAT, "config": config.to_dict(), "data_dir": str(scan.root.resolve()),
                      "classes": scan.class_names,
                      "split": {name: [s.to_json(self.out_dir) for s in splits[name]] for name in SPLITS},
                      "done": {}, "epochs": {}}
        self._write_state()

    def resume(self, config, scan) -> dict:
        """Read the interrupted run's state; return its split.

        Raises:
            NothingToResume: no interrupted run in this model folder.
            ValueError: the settings or the classes differ from the interrupted run's.
        """
        if not self.exists:
            raise NothingToResume(f"{self.folder} holds no interrupted training to resume: run without --resume "
                                  "to start one.")
        self.state = json.loads((self.folder / STATE_FILE).read_text())
        if self.state.get("format") != FORMAT:
            raise ValueError(f"{self.folder} was written by another version of sasirangan; run without --resume.")
        before, now = self.state["config"], json.loads(json.dumps(config.to_dict()))
        changed = [f"{name}={before.get(name)!r} then, {now[name]!r} now" for name in now if before.get(name) != now[name]]
        if changed:
            raise ValueError("--resume continues the interrupted run with its own settings, and these differ: "
                             + "; ".join(changed) + ". Give the same settings, or run without --resume to start afresh.")
        if self.state["classes"] != scan.class_names:
            raise ValueError(f"The classes changed since the interrupted run ({', '.join(self.state['classes'])} then, "
                             f"{', '.join(scan.class_names)} now): run without --resume to start afresh.")
        return {name: [Sample.from_json(item, self.out_dir) for item in self.state["split"][name]] for name in SPLITS}

    def _write_state(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.folder / STATE_FILE, lambda target: target.write_text(json.dumps(self.state, indent=1)))

    def done(self, step: str):
        """What was recorded when `step` finished (a copy, the caller may change it), or None if it did not."""
        info = self.state.get("done", {}).get(step)
        return None if info is None else json.loads(json.dumps(info))

    def mark_done(self, step: str, info=True) -> None:
        self.state["done"][step] = json.loads(json.dumps(info))  # a copy: the caller goes on changing its own
        self._write_state()

    def record_seconds(self, seconds: float) -> None:
        """How long the run has trained so far, for the card's training time after a resume."""
        self.state["seconds"] = seconds
        self._write_state()

    def save_arrays(self, name: str, arrays: list) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _save_arrays(self.folder / f"{name}.npz", arrays)

    def load_arrays(self, name: str) -> list[np.ndarray]:
        return _load_arrays(self.folder / f"{name}.npz")

    def save_named(self, name: str, groups: dict[str, list]) -> None:
        """Several lists of arrays in one file (one write, so they always belong together)."""
        flat = {f"{group}/{i}": array for group, arrays in groups.items() for i, array in enumerate(arrays)}
        counts = {group: len(arrays) for group, arrays in groups.items()}
        self.folder.mkdir(parents=True, exist_ok=True)

        def write(target):
            with open(target, "wb") as file:
                np.savez(file, counts=np.array(json.dumps(counts)), **flat)

        _write_atomically(self.folder / f"{name}.npz", write)

    def load_named(self, name: str) -> dict[str, list[np.ndarray]]:
        with np.load(self.folder / f"{name}.npz") as data:
            counts = json.loads(str(data["counts"]))
            return {group: [data[f"{group}/{i}"] for i in range(count)] for group, count in counts.items()}

    def epochs_done(self, phase: str) -> int:
        return self.state.get("epochs", {}).get(phase, {}).get("epoch", 0)

    def summary(self) -> str:
        """What is kept, in words, for the interrupted message."""
        kept = []
        if self.done("features_train"):
            kept.append("the crops' features")
        for phase, name in (("head", "phase 1"), ("fine_tune", "phase 2")):
            if self.done(phase):
                kept.append(f"{name} (finished)")
            elif self.epochs_done(phase):
                kept.append(f"{self.epochs_done(phase)} epoch(s) of {name}")
        return ", ".join(kept) if kept else "the split (nothing else had finished)"

    def epoch_callback(self, phase: str, watched=()):
        """A Keras callback that checkpoints `phase` ("head" or "fine_tune") every epoch, and puts
        the saved state back in a resumed fit; `watched` are the callbacks whose state it keeps."""
        import keras

        class EpochCheckpoint(keras.callbacks.Callback):
            """At each epoch's end: weights, optimizer state, history and the watched callbacks'
            state; at the start of a resumed fit, puts them back. Goes after the watched callbacks.

            An epoch's arrays go into one file named after the epoch, and state.json, written
            after it, names that file: an interrupt between the two leaves the previous epoch whole.
            """

            def __init__(self, run: RunCheckpoint):
                super().__init__()
                self.run = run
                self.saved = run.state["epochs"].get(phase)
                self.history: dict = dict(self.saved["history"]) if self.saved else {}
                self.initial_epoch = self.saved["epoch"] if self.saved else 0  # epochs of this phase already done
                self.stopped = bool(self.saved and self.saved.get("stopped"))  # EarlyStopping had ended the phase
                self.epochs_done = self.initial_epoch

            def on_train_begin(self, logs=None):
                if not self.saved:
                    return
                arrays = self.run.load_named(self.saved["file"])
                self.model.set_weights(arrays["weights"])
                optimizer = self.model.optimizer
                if not optimizer.built:
                    optimizer.build(self.model.trainable_variables)
                for variable, value in zip(optimizer.variables, arrays["optimizer"]):
                    variable.assign(value)
                for callback, state in zip(watched, self.saved["callbacks"]):
                    for name, value in state.items():
                        setattr(callback, name, value)
                    if getattr(callback, "restore_best_weights", False) and arrays.get("best_weights"):
                        callback.best_weights = arrays["best_weights"]

            def on_epoch_end(self, epoch, logs=None):
                self.epochs_done += 1  # of this phase (a fit's `epoch` counts from the phase-1 offset in phase 2)
                for key, value in (logs or {}).items():
                    self.history.setdefault(key, []).append(float(value))
                arrays = {"weights": self.model.get_weights(),
                          "optimizer": [np.asarray(v) for v in self.model.optimizer.variables], "best_weights": []}
                states = []
                for callback in watched:
                    states.append({name: _plain(getattr(callback, name)) for name in _CALLBACK_STATE
                                   if hasattr(callback, name)})
                    if getattr(callback, "best_weights", None) is not None:
                        arrays["best_weights"] = callback.best_weights
                file = f"{phase}_epoch{self.epochs_done}"
                self.run.save_named(file, arrays)
                previous = self.run.state["epochs"].get(phase, {}).get("file")
                self.run.state["epochs"][phase] = {"epoch": self.epochs_done, "file": file, "history": self.history,
                                                   "callbacks": states, "stopped": bool(self.model.stop_training)}
                self.run._write_state()
                if previous and previous != file:
                    (self.run.folder / f"{previous}.npz").unlink(missing_ok=True)

        return EpochCheckpoint(self)

    def clear(self) -> None:
        """Remove the checkpoints; state.json first, so an interrupted removal leaves nothing to resume."""
        (self.folder / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def _plain(value):
    """A callback attribute as JSON can hold it (numpy numbers become Python ones)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.item()
    return value
