"""An interrupted training keeps its work in OUT/checkpoints and `--resume` continues it,
losing at most the epoch it was in; a notebook's split is the one trained on."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import make_tree
from sasirangan import train as train_module
from sasirangan.checkpoints import NothingToResume, RunCheckpoint, TrainingInterrupted
from sasirangan.cli import main
from sasirangan.config import TrainConfig
from sasirangan.data import scan_folder, split_samples

TOY = dict(image_size=32, weights="none", crop_passes=1, views_grid=0, batch_size=8, patience=50)


class _StopAt(keras.callbacks.Callback):
    """Ctrl+C as the given epoch of a fit begins (the ones before it have finished)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _interrupt(monkeypatch, phase, epoch):
    callbacks = train_module._callbacks
    monkeypatch.setattr(train_module, "_callbacks",
                        lambda config, run, which: [_StopAt(epoch)] * (which == phase) + callbacks(config, run, which))


def _state(model_dir):
    return json.loads((model_dir / "checkpoints" / "state.json").read_text())


def test_ctrl_c_in_phase_2_keeps_features_phase_1_and_finished_epochs_and_resume_continues(tmp_path, monkeypatch, capsys):
    data = make_tree(tmp_path / "data", per_class=8, size=40)
    out = tmp_path / "model"
    config = TrainConfig(**TOY, head_epochs=4, fine_tune_layers=4, fine_tune_epochs=4)
    _interrupt(monkeypatch, "fine_tune", 4 + 2)  # phase 2's third epoch: its first two have finished
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train_module.train(data, out, config, verbose=2)
    assert "Kept in" in capsys.readouterr().err
    state = _state(out)
    assert {"features_train", "features_val", "head"} <= set(state["done"]) and "fine_tune" not in state["done"]
    finished = state["epochs"]["fine_tune"]["history"]["loss"]
    assert len(finished) == 2 and not (out / "model.keras").exists()

    monkeypatch.undo()
    train_module.train(data, out, config, verbose=2, resume=True)
    said = capsys.readouterr().out
    assert "Reusing the train pictures' crop features" in said and "Computing features of" not in said.split("Calibrating")[0]
    assert "Phase 1 finished before the interruption" in said and "resuming after epoch 2" in said
    card = json.loads((out / "model_card.json").read_text())
    assert card["history"]["loss"][4:6] == finished  # the finished epochs were kept, not run again
    assert len(card["history"]["loss"]) == 4 + 4
    assert not (out / "checkpoints").exists()


def _tiny_fit(run, epochs, initial_epoch=0, extra=()):
    """A small model fitted with the project's callbacks (EarlyStopping, ReduceLROnPlateau, checkpoint)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)
    callbacks = [*train_module._callbacks(TrainConfig(patience=3), run, "head"), *extra]
    model.fit(x, y, validation_data=(x, y[::-1]), batch_size=8, initial_epoch=initial_epoch, epochs=epochs,
              callbacks=callbacks, verbose=0)
    return model, callbacks


def test_a_resumed_fit_gets_back_weights_optimizer_and_early_stopping_state(tmp_path):
    run = RunCheckpoint(tmp_path)

    class Snapshot(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):  # after the checkpoint has put the saved state back
            self.weights = self.model.get_weights()
            self.iterations = int(self.model.optimizer.iterations.numpy())

    with pytest.raises(KeyboardInterrupt):
        _tiny_fit(run, 10, extra=[_StopAt(3)])
    saved = run.state["epochs"]["head"]
    assert saved["epoch"] == 3 and [p.name for p in run.folder.glob("head_epoch*.npz")] == ["head_epoch3.npz"]

    resumed = RunCheckpoint(tmp_path)
    resumed.state = json.loads((tmp_path / "checkpoints" / "state.json").read_text())
    snapshot = Snapshot()
    keras.utils.set_random_seed(1)  # another initialisation: only the checkpoint can bring the weights back
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    early_stopping = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    checkpoint = resumed.epoch_callback("head", (early_stopping,))
    x = np.zeros((8, 4), "float32")
    model.fit(x, np.zeros(8, int), validation_data=(x, np.zeros(8, int)), initial_epoch=checkpoint.initial_epoch,
              epochs=checkpoint.initial_epoch, callbacks=[early_stopping, checkpoint, snapshot], verbose=0)
    expected = resumed.load_named(saved["file"])
    for got, want in zip(snapshot.weights, expected["weights"]):
        np.testing.assert_array_equal(got, want)
    assert snapshot.iterations == 3 * 4  # 3 epochs of 4 steps: the optimizer's own state came back
    assert early_stopping.wait == saved["callbacks"][0]["wait"] and early_stopping.best == saved["callbacks"][0]["best"]


def test_a_phase_that_early_stopping_ended_does_not_train_on_after_a_resume(tmp_path):
    run = RunCheckpoint(tmp_path)
    _tiny_fit(run, 200)
    stopped_after = run.state["epochs"]["head"]["epoch"]
    assert stopped_after < 200 and run.state["epochs"]["head"]["stopped"]
    checkpoint = RunCheckpoint(tmp_path)
    checkpoint.state = run.state
    again = checkpoint.epoch_callback("head", ())
    assert again.stopped and again.initial_epoch == stopped_after


def test_resume_refuses_other_settings_and_a_folder_with_nothing_to_resume(tmp_path, monkeypatch, capsys):
    data = make_tree(tmp_path / "data", per_class=6, size=40)
    out = tmp_path / "model"
    config = TrainConfig(**TOY, head_epochs=6)
    with pytest.raises(NothingToResume, match="without --resume"):
        train_module.train(data, out, config, verbose=0, resume=True)
    _interrupt(monkeypatch, "head", 2)
    with pytest.raises(TrainingInterrupted):
        train_module.train(data, out, config, verbose=0)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="head_epochs=6 then, 9 now"):
        train_module.train(data, out, TrainConfig(**TOY, head_epochs=9), verbose=0, resume=True)
    assert _state(out)["epochs"]["head"]["epoch"] == 2  # the refusal changed nothing
    capsys.readouterr()
    assert main(["train", str(data), "--out", str(out), "--image-size", "33", "--weights", "none", "--resume"]) == 2
    assert "these differ: image_size=32 then, 33 now" in capsys.readouterr().err
    with pytest.raises(ValueError, match="do not pass splits as well"):
        train_module.train(data, out, config, verbose=0, resume=True, splits={})


# The CLI in a child process that sends itself a real SIGINT (Ctrl+C) as phase 1's fourth epoch
# begins: after the checkpoint of the third, every time, however fast the machine is.
CTRL_C_AT_EPOCH_3 = """
import os, signal, sys
import keras
from sasirangan import train
from sasirangan.cli import main

class CtrlC(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 3:
            os.kill(os.getpid(), signal.SIGINT)

callbacks = train._callbacks
train._callbacks = lambda config, run, phase: [CtrlC()] + callbacks(config, run, phase)
sys.exit(main(sys.argv[1:]))
"""


def test_cli_ctrl_c_says_how_to_resume_and_the_resumed_run_finishes(tmp_path):
    data = make_tree(tmp_path / "data", per_class=6, size=40)
    out = tmp_path / "model"
    arguments = ["train", str(data), "--out", str(out), "--image-size", "32", "--weights", "none", "--crop-passes", "1",
                 "--views-grid", "0", "--batch-size", "8", "--head-epochs", "20", "--patience", "20", "--quiet"]
    interrupted = subprocess.run([sys.executable, "-c", CTRL_C_AT_EPOCH_3, *arguments], capture_output=True, text=True,
                                 timeout=600)
    assert interrupted.returncode == 130, interrupted.stderr[-2000:]
    err = interrupted.stderr
    assert "Training interrupted. Kept in" in err and "3 epoch(s) of phase 1" in err
    assert f"--out {out}" in err and err.rstrip().endswith("--quiet --resume")
    assert _state(out)["epochs"]["head"]["epoch"] == 3

    resumed = subprocess.run([sys.executable, "-m", "sasirangan.cli", *arguments, "--resume"], capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming after epoch 3" in resumed.stdout
    card = json.loads((out / "model_card.json").read_text())
    assert len(card["history"]["loss"]) == 20 and not (out / "checkpoints").exists()


def test_train_uses_the_split_it_is_given_and_refuses_one_of_other_photos(tmp_path):
    data = make_tree(tmp_path / "data", per_class=6, size=40)
    config = TrainConfig(**TOY, head_epochs=1)
    scan = scan_folder(data)
    given = split_samples(scan, TrainConfig(**TOY, head_epochs=1, seed=7))
    assert given != split_samples(scan, config)  # another seed, another split: train() must not make its own
    out = train_module.train(data, tmp_path / "model", config, verbose=0, splits=given)
    card = json.loads((out / "model_card.json").read_text())
    assert card["split"] == {name: [s.to_json(out) for s in given[name]] for name in given}

    other = make_tree(tmp_path / "other", per_class=6, size=40)
    foreign = split_samples(scan_folder(other), config)
    with pytest.raises(ValueError, match="not among the photos found"):
        train_module.train(data, tmp_path / "model2", config, verbose=0, splits=foreign)
    with pytest.raises(ValueError, match="val split is empty"):
        train_module.train(data, tmp_path / "model2", config, verbose=0, splits={**given, "val": []})
    assert not (tmp_path / "model2").exists()  # refused before anything was written
