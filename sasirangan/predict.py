"""Serving a model folder: one image in, the motif (or unknown) and its top guesses out.

The per-image path runs the LiteRT export (`model.tflite`, ~3 ms a frame on 2 cores)
instead of `model.predict` (~60-110 ms), falling back to a traced `tf.function`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import UNKNOWN_CLASS
from .data import load_image, prepare_image
from .model import TFLITE_FILE, export_tflite, load_model_folder

AGREEMENT_TOLERANCE = 1e-3  # the fast path must match the Keras model this closely


@dataclass
class Prediction:
    """The answer for one picture."""

    label: str  # winning class, or "unknown"
    confidence: float  # probability of the winning class
    top: list[tuple[str, float]]  # best guesses among the classes, most likely first
    probabilities: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # model time plus preprocessing

    @property
    def is_unknown(self) -> bool:
        return self.label == UNKNOWN_CLASS

    def to_json(self, file: str | None = None) -> dict:
        return {"file": file, "label": self.label, "confidence": round(self.confidence, 6),
                "top": [[name, round(p, 6)] for name, p in self.top]}


class Predictor:
    """Loads a model folder once and answers single pictures quickly.

    Args:
        model_dir: a folder written by `sasirangan train`.
        backend: "auto" (LiteRT if available, else TensorFlow), "litert" or "tf".

    Example:
        >>> predictor = Predictor("models/sasirangan_default")   # doctest: +SKIP
        >>> predictor.predict("cloth.jpg").label                  # doctest: +SKIP
        'gigi_haruan'
    """

    def __init__(self, model_dir, backend: str = "auto"):
        self.model_dir = Path(model_dir)
        self.model, self.class_names, self.card = load_model_folder(self.model_dir)
        self.image_size = int(self.model.input_shape[1])
        self._lock = threading.Lock()  # a LiteRT interpreter serves one call at a time
        self.backend = self._open_backend(backend)

    # -- backends -----------------------------------------------------------------

    def _open_backend(self, backend: str) -> str:
        if backend not in ("auto", "litert", "tf"):
            raise ValueError(f"backend must be 'auto', 'litert' or 'tf'. Received: backend={backend!r}.")
        if backend in ("auto", "litert"):
            try:
                from ai_edge_litert.interpreter import Interpreter  # noqa: F401
            except ImportError:
                if backend == "litert":
                    raise ImportError("backend='litert' needs the ai-edge-litert package: pip install ai-edge-litert")
            else:
                self._open_litert()
                if self._agrees_with_keras():
                    return "litert"
                export_tflite(self.model, self.model_dir / TFLITE_FILE)  # stale export: rebuild it
                self._open_litert()
                if self._agrees_with_keras():
                    return "litert"
        self._open_tf()
        return "tf"

    def _open_litert(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = self.model_dir / TFLITE_FILE
        if not path.is_file():
            export_tflite(self.model, path)
        interpreter = Interpreter(model_path=str(path), num_threads=min(4, os.cpu_count() or 1))
        self._runner = interpreter.get_signature_runner()
        self._run = lambda batch: self._runner(image=batch)

    def _open_tf(self) -> None:
        import tensorflow as tf

        from .model import serving_model

        serving = serving_model(self.model)
        spec = tf.TensorSpec([None, self.image_size, self.image_size, 3], tf.float32)

        @tf.function(input_signature=[spec])
        def serve(image):
            return serving(image, training=False)

        self._run = lambda batch: {k: v.numpy() for k, v in serve(batch).items()}

    def _agrees_with_keras(self) -> bool:
        probe = np.random.default_rng(0).random((1, self.image_size, self.image_size, 3), dtype=np.float32)
        expected = self.model(probe, training=False).numpy()
        try:
            got = self._run(probe)["probabilities"]
        except Exception:  # a broken or foreign export: rebuild it
            return False
        return got.shape == expected.shape and float(np.abs(got - expected).max()) <= AGREEMENT_TOLERANCE

    # -- prediction ---------------------------------------------------------------

    def raw_outputs(self, prepared: np.ndarray) -> dict[str, np.ndarray]:
        """Model outputs for one prepared image (H, W, 3 float32 in [0, 1])."""
        batch = np.ascontiguousarray(prepared[None], dtype=np.float32)
        with self._lock:
            outputs = self._run(batch)
        return {key: np.asarray(value)[0] for key, value in outputs.items()}

    def probabilities(self, image) -> np.ndarray:
        """Class probabilities for any picture `load_image` accepts."""
        rgb = load_image(image)
        return self.raw_outputs(prepare_image(rgb, self.image_size))["probabilities"]

    def predict(self, image, top_k: int = 3) -> Prediction:
        """Name the motif in one picture (path, bytes, PIL image or RGB array).

        Raises:
            ImageError: the picture cannot be read; the message says why.
        """
        started = time.perf_counter()
        probabilities = self.probabilities(image)
        return self.decide(probabilities, top_k, time.perf_counter() - started)

    def decide(self, probabilities: np.ndarray, top_k: int = 3, seconds: float = 0.0) -> Prediction:
        """Turn a probability vector into an answer."""
        order = np.argsort(probabilities)[::-1]
        top = [(self.class_names[i], float(probabilities[i])) for i in order[:top_k]]
        best = int(order[0])
        return Prediction(
            label=self.class_names[best],
            confidence=float(probabilities[best]),
            top=top,
            probabilities={name: float(p) for name, p in zip(self.class_names, probabilities)},
            seconds=seconds,
        )
