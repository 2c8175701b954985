"""An interrupted training keeps its work in OUT/checkpoints and `--resume` continues it,
losing at most the epoch it was in; a notebook's split is the one trained on."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

from conftest import make_tree
from sasirangan import train as train_module
from sasirangan.checkpoints import NothingToResume, TrainingInterrupted
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


def test_resume_refuses_other_settings_and_a_folder_with_nothing_to_resume(tmp_path, monkeypatch):
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
    assert main(["train", str(data), "--out", str(out), "--image-size", "33", "--weights", "none", "--resume"]) == 2


def test_cli_ctrl_c_says_how_to_resume_and_the_resumed_run_finishes(tmp_path):
    data = make_tree(tmp_path / "data", per_class=6, size=40)
    out = tmp_path / "model"
    command = [sys.executable, "-m", "sasirangan.cli", "train", str(data), "--out", str(out), "--image-size", "32",
               "--weights", "none", "--crop-passes", "1", "--views-grid", "0", "--batch-size", "8",
               "--head-epochs", "60", "--patience", "60", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        state_file = out / "checkpoints" / "state.json"
        if state_file.exists() and json.loads(state_file.read_text()).get("epochs", {}).get("head", {}).get("epoch", 0) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "Training interrupted. Kept in" in err and f"--out {out}" in err and err.rstrip().endswith("--resume")
    interrupted_at = _state(out)["epochs"]["head"]["epoch"]
    assert 2 <= interrupted_at < 60

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming after epoch {interrupted_at}" in resumed.stdout
    card = json.loads((out / "model_card.json").read_text())
    assert len(card["history"]["loss"]) == 60 and not (out / "checkpoints").exists()


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
