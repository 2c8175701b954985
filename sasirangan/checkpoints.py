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

    def save_arrays(self, name: str, arrays: list) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _save_arrays(self.folder / f"{name}.npz", arrays)

    def load_arrays(self, name: str) -> list[np.ndarray]:
        return _load_arrays(self.folder / f"{name}.npz")

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

    def epoch_callback(self, phase: str, watched=()) -> "EpochCheckpoint":
        import keras

        class EpochCheckpoint(keras.callbacks.Callback):
            """At each epoch's end: weights, optimizer state, history and the watched callbacks'
            state; at the start of a resumed fit, puts them back. Goes after the watched callbacks."""

            def __init__(self, run: RunCheckpoint):
                super().__init__()
                self.run = run
                saved = run.state["epochs"].get(phase)
                self.history: dict = dict(saved["history"]) if saved else {}
                self.initial_epoch = saved["epoch"] if saved else 0  # epochs of this phase already done
                self.epochs_done = self.initial_epoch

            def on_train_begin(self, logs=None):
                if not self.initial_epoch:
                    return
                saved = self.run.state["epochs"][phase]
                self.model.set_weights(self.run.load_arrays(f"{phase}_weights"))
                optimizer = self.model.optimizer
                if not optimizer.built:
                    optimizer.build(self.model.trainable_variables)
                for variable, value in zip(optimizer.variables, self.run.load_arrays(f"{phase}_optimizer")):
                    variable.assign(value)
                for callback, state in zip(watched, saved["callbacks"]):
                    for name, value in state.items():
                        setattr(callback, name, value)
                    best_weights = self.run.folder / f"{phase}_best_weights.npz"
                    if getattr(callback, "restore_best_weights", False) and best_weights.is_file():
                        callback.best_weights = self.run.load_arrays(f"{phase}_best_weights")

            def on_epoch_end(self, epoch, logs=None):
                self.epochs_done += 1  # of this phase (a fit's `epoch` counts from the phase-1 offset in phase 2)
                for key, value in (logs or {}).items():
                    self.history.setdefault(key, []).append(float(value))
                self.run.save_arrays(f"{phase}_weights", self.model.get_weights())
                self.run.save_arrays(f"{phase}_optimizer", [np.asarray(v) for v in self.model.optimizer.variables])
                states = []
                for callback in watched:
                    state = {name: _plain(getattr(callback, name)) for name in _CALLBACK_STATE if hasattr(callback, name)}
                    states.append(state)
                    if getattr(callback, "best_weights", None) is not None:
                        self.run.save_arrays(f"{phase}_best_weights", callback.best_weights)
                self.run.state["epochs"][phase] = {"epoch": self.epochs_done, "history": self.history, "callbacks": states}
                self.run._write_state()

        return EpochCheckpoint(self)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _plain(value):
    """A callback attribute as JSON can hold it (numpy numbers become Python ones)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.item()
    return value
