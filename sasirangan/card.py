"""The model folder's files and its card: one typed object, written and checked in one place.

A model folder holds the Keras model, its class list, the LiteRT export, the open-set
arrays and `model_card.json`, the card: everything serving and evaluation need to know
(backbone, input size, views, the split, calibration, the unknown threshold, metrics).
Training, calibration and the report fill in a `ModelCard`; `save` and `load` are the only
code that reads or writes the JSON, and `load` checks its format version.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .backbones import DEFAULT_BACKBONE
from .views import Views

MODEL_FILE = "model.keras"
CLASS_NAMES_FILE = "class_names.json"
CARD_FILE = "model_card.json"
TFLITE_FILE = "model.tflite"  # LiteRT export for fast single-frame serving
OPEN_SET_FILE = "open_set.npz"  # class centres and covariance of the open-set score, and the cloth score
RELIABILITY_FILE = "reliability.png"
CURVES_FILE = "training_curves.png"
EVALUATION_DIR = "evaluation"
REPORT_FILE = "report.md"  # in EVALUATION_DIR: what `train` and `evaluate` write for people to read
OUT_OF_FOLD_FILE = "cloth_out_of_fold.json"  # --cloth-folds: cloth pictures answered by heads that never saw them

# 1: the first cards (whole picture only); 2: backbone key, views, refit, cross-validation;
# 3: any backbone of the table, its normalisation a sasirangan layer in model.keras; optimizer,
#    schedule, freeze and stn in config.
CARD_FORMAT = 3


@dataclass
class ModelCard:
    """What a model folder says about its model. Every field is a key of model_card.json."""

    classes: list[str]  # class names in output order
    input_size: int  # square input side in pixels
    backbone: str = DEFAULT_BACKBONE  # key of backbones.BACKBONES
    views: dict | None = None  # views.Views as a dict; None (format 1) = the whole picture only
    format: int = CARD_FORMAT
    created: str = ""
    backbone_description: str = ""
    weights: str = ""
    preprocessing: dict = field(default_factory=dict)
    unknown_class: str | None = None
    class_counts: dict = field(default_factory=dict)
    data_dir: str = ""
    split_counts: dict = field(default_factory=dict)
    split_paths_relative_to: str = "the model folder"
    split: dict = field(default_factory=dict)  # {"train"|"val"|"test": [Sample.to_json(...), ...]}
    skipped_files: list = field(default_factory=list)
    label_conflicts: list = field(default_factory=list)
    notes: str = ""  # what the photos are, what the model cannot be expected to do
    config: dict = field(default_factory=dict)  # the TrainConfig it was trained with
    history: dict = field(default_factory=dict)  # per-epoch loss and accuracy
    events: dict = field(default_factory=dict)  # learning-rate drops, early stops, phase boundaries
    val_metrics: dict = field(default_factory=dict)
    cross_validation: dict | None = None  # --folds K
    refit: dict | None = None  # set when the saved model was retrained on train + validation
    training_seconds: float | None = None
    averaged_from: list | None = None  # the model folders whose heads `sasirangan average` averaged into this one
    versions: dict = field(default_factory=dict)
    calibration: dict | None = None  # temperature scaling, set by calibrate
    open_set: dict | None = None  # open-set method and threshold, set by calibrate
    verdict: dict | None = None  # thresholds of the three kinds of answer (sasirangan.verdict), set by calibrate
    test_metrics: dict | None = None  # set by the report on the test split
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as they were

    @property
    def view_spec(self) -> Views:
        return Views.from_dict(self.views)

    @property
    def temperature(self) -> float:
        return float((self.calibration or {}).get("temperature", 1.0))

    def samples(self, split: str, model_dir) -> list:
        """The `Sample`s of one split, with paths resolved against the model folder."""
        from .data import Sample

        return [Sample.from_json(item, Path(model_dir)) for item in self.split.get(split, [])]

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **values}

    def save(self, model_dir) -> Path:
        path = Path(model_dir) / CARD_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        return path

    @classmethod
    def from_dict(cls, values: dict) -> "ModelCard":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in values.items() if k in known},
                   extra={k: v for k, v in values.items() if k not in known})

    @classmethod
    def load(cls, model_dir, class_names: list[str], input_size: int | None) -> "ModelCard":
        """Read a folder's card; a folder without one gets a minimal card from its model.

        Raises:
            ValueError: the card is not JSON, or was written by a newer sasirangan.
        """
        path = Path(model_dir) / CARD_FILE
        if not path.is_file():
            return cls(classes=list(class_names), input_size=input_size, format=1)
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}).") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object.")
        version = values.get("format", 1)
        if not isinstance(version, int) or version > CARD_FORMAT:
            raise ValueError(f"{path} has card format {version!r}, newer than this sasirangan reads ({CARD_FORMAT}). "
                             "Upgrade sasirangan: pip install --upgrade sasirangan.")
        values.setdefault("classes", list(class_names))
        values.setdefault("input_size", input_size)
        return cls.from_dict(values)


def write_out_of_fold(model_dir, logits: dict) -> Path:
    """Keep `train._cloth_out_of_fold`'s answers in the model folder's evaluation/ (paths
    relative to the model folder, as the card's split): {path: logits}."""
    folder = Path(model_dir) / EVALUATION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    base = Path(model_dir).resolve()
    rows = {os.path.relpath(Path(path).resolve(), base): [float(v) for v in values] for path, values in logits.items()}
    path = folder / OUT_OF_FOLD_FILE
    path.write_text(json.dumps(rows, indent=1))
    return path


def read_out_of_fold(model_dir) -> dict:
    """{resolved picture path: logits (np.ndarray)} written by `write_out_of_fold`; {} if none."""
    import numpy as np

    path = Path(model_dir) / EVALUATION_DIR / OUT_OF_FOLD_FILE
    if not path.is_file():
        return {}
    base = Path(model_dir).resolve()
    return {os.path.normpath(base / name): np.asarray(values, np.float32)
            for name, values in json.loads(path.read_text()).items()}
