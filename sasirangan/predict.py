"""Serving a model folder: one image in, the motif (or unknown) and its top guesses out.

The per-image path runs the LiteRT export (`model.tflite`, ~3 ms a frame on 2 cores)
instead of `model.predict` (~60-110 ms), falling back to a traced `tf.function`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .calibrate import NotFittedError, softmax
from .config import UNKNOWN_CLASS
from .data import load_image
from .views import Views, average_outputs, image_views
from .card import OPEN_SET_FILE, TFLITE_FILE
from .model import export_tflite, load_model_folder
from .enrol import Enrolment, Match
from .openset import OpenSetScorer
from .verdict import DEFAULT_CONFIDENT, NO_UNKNOWN_CEILING, MOTIF, NOT_MOTIF, UNCERTAIN, ClothScorer, decide_verdict, picture_problem

REASON_UNKNOWN_CLASS = "the model's 'unknown' class won: it looks like the non-motif pictures it was trained on"
REASON_LOW_SCORE = "looks unlike every motif in training (its open-set score is below the model's threshold)"
REASON_NOT_SURE = "no motif is sure enough: the best one has {confidence:.0%}, and the model names a motif from {confident:.0%}"
REASON_OTHER_CLOTH = ("{best} has {confidence:.0%}, but the picture is also {unknown:.0%} like the cloth the model knows "
                      "is none of its motifs, and it names a motif only up to {ceiling:.0%} of that")
REASON_CLOTH = "it looks like cloth or pattern, but not like any motif the model knows well enough to name"
REASON_NOT_CLOTH = "it does not look like the cloth or patterns the model was trained on"
REASON_NEAR_CATALOGUE = ("the model says {best}, but the picture is almost as close to {motif}, which people "
                         "taught it from catalogue photos")

AGREEMENT_TOLERANCE = 1e-3  # the fast path must match the Keras model this closely
NEAR_CATALOGUE_BAND = 0.05  # a model's motif this close to a catalogue motif's margin is answered "not sure"
REFERENCES_REFRESH = 0.25  # seconds between checks whether the catalogue changed (a cheap query)


def model_key(model_dir) -> str:
    """Names the model's weights, so cached catalogue features are never those of another model."""
    import hashlib

    from .card import MODEL_FILE

    digest = hashlib.sha256()
    with open(Path(model_dir) / MODEL_FILE, "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def closest_motifs(probabilities: dict[str, float], k: int, exclude=()) -> list[tuple[str, float]]:
    """The k most probable motifs of {class: probability}, most likely first. The unknown class
    is left out: it is not a motif, and when it wins, the motifs it was nearest are what a person
    can check (the issue's "show the closest motifs"); a place it took would hide one of them."""
    motifs = [(name, float(p)) for name, p in probabilities.items() if name not in (UNKNOWN_CLASS, *exclude)]
    return sorted(motifs, key=lambda item: -item[1])[:k]


def shares_among_motifs(probabilities: dict[str, float]) -> dict[str, float]:
    """{motif: its share of the motifs' total}, the unknown class left out: what a not-sure
    answer shows, where the unknown class may hold nearly all the probability."""
    motifs = {name: float(p) for name, p in probabilities.items() if name != UNKNOWN_CLASS}
    total = sum(motifs.values())
    return {name: p / total if total > 0 else 0.0 for name, p in motifs.items()}


@dataclass
class Prediction:
    """The answer for one picture."""

    label: str  # the motif when verdict is "motif", else "unknown"
    confidence: float  # probability of the most probable class
    top: list[tuple[str, float]]  # the closest motifs, most likely first (never the unknown class: `closest_motifs`)
    probabilities: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # model time plus preprocessing
    reason: str | None = None  # why no motif is named, in words; None when one is
    score: float | None = None  # open-set score ("how known"); the threshold is in the model card
    verdict: str = MOTIF  # "motif" | "uncertain" (cloth, not sure which) | "not_motif" (sasirangan.verdict)
    cloth: float | None = None  # cloth-or-pattern probability, when the model has a cloth score
    problem: str | None = None  # what is wrong with the picture itself (sasirangan.quality code), if anything
    advice: str | None = None  # what to do about it
    match: Match | None = None  # the nearest catalogue motif, when the predictor has a catalogue
    source: str = "model"  # "catalogue" when the motif was named from confirmed catalogue photos

    @property
    def is_unknown(self) -> bool:
        return self.label == UNKNOWN_CLASS

    def closest_motifs(self, k: int = 3, exclude=(), among_motifs: bool = False) -> list[tuple[str, float]]:
        """The k most probable motifs, never the unknown class (`closest_motifs`). `among_motifs`
        gives each its share of the motifs' total: when the unknown class holds nearly all the
        probability, the motifs' own would all read 0%."""
        probabilities = shares_among_motifs(self.probabilities) if among_motifs else self.probabilities
        return closest_motifs(probabilities, k, exclude)

    def to_json(self, file: str | None = None) -> dict:
        answer = {"file": file, "label": self.label, "confidence": round(self.confidence, 6),
                  "top": [[name, round(p, 6)] for name, p in self.top], "verdict": self.verdict}
        if self.reason:
            answer["reason"] = self.reason
        if self.problem:
            answer["problem"], answer["advice"] = self.problem, self.advice
        if self.source == "catalogue":
            answer["source"], answer["references"] = self.source, self.match.references
        return answer


class Predictor:
    """Loads a model folder once and answers single pictures quickly.

    Args:
        model_dir: a folder written by `sasirangan train`.
        backend: "auto" (LiteRT if available, else TensorFlow), "litert" or "tf".
        catalogue: a `sasirangan.catalogue.Catalogue`, or its folder or `postgresql://` URL:
            its confirmed photos become references (`sasirangan.enrol`), so a motif enrolled
            there is named without retraining; changes are picked up within
            `REFERENCES_REFRESH` seconds, or at once after `refresh_references()`.

    Example:
        >>> predictor = Predictor("models/sasirangan_default")   # doctest: +SKIP
        >>> predictor.predict("cloth.jpg").label                  # doctest: +SKIP
        'gigi_haruan'
    """

    def __init__(self, model_dir, backend: str = "auto", catalogue=None):
        self.model_dir = Path(model_dir)
        self.model, self.class_names, self.card = load_model_folder(self.model_dir)
        self.image_size = int(self.model.input_shape[1])
        self.temperature = self.card.temperature
        self.views = self.card.view_spec  # what uploads and files are averaged over
        path = self.model_dir / OPEN_SET_FILE
        self._open_set_arrays = dict(np.load(path)) if path.is_file() else {}  # read once: scorers and centres
        self.scorer, self.cloth_scorer = self._open_scorers()
        self.confident = float((self.card.verdict or {}).get("confident", DEFAULT_CONFIDENT))
        self.unknown_ceiling = float((self.card.verdict or {}).get("unknown_ceiling", NO_UNKNOWN_CEILING))
        self._lock = threading.Lock()  # a LiteRT interpreter serves one call at a time
        self.backend = self._open_backend(backend)
        self.catalogue, self.enrolment = None, None
        if catalogue is not None:
            self.use_catalogue(catalogue)

    @cached_property
    def training_pictures(self) -> Enrolment | None:
        """Every motif's training pictures in the enrolment's embedding, for `nearest_shares`
        (what `benchmarks/confirmed_photos.py --nearest` compares the model's guesses with; no
        answer uses them, so they are read on first use, not at start-up); None for a folder
        calibrated before they were kept (`sasirangan calibrate --centres-only` adds them)."""
        try:
            pictures = Enrolment.from_arrays(self._open_set_arrays)
        except NotFittedError:
            return None
        return pictures if pictures.has_pictures else None

    # -- catalogue references ------------------------------------------------------

    def use_catalogue(self, catalogue) -> None:
        """Name motifs from a catalogue's confirmed photos too (see the class docstring).

        Raises:
            NotFittedError: the model folder has no class centres (run `sasirangan calibrate`).
        """
        from .catalogue import Catalogue

        self.enrolment = Enrolment.from_arrays(self._open_set_arrays)
        self.catalogue = catalogue if isinstance(catalogue, Catalogue) else Catalogue.open(catalogue)
        self.model_key = model_key(self.model_dir)
        self._references_lock = threading.Lock()
        self._references_revision, self._references_checked = None, 0.0
        self.refresh_references()

    def refresh_references(self) -> int:
        """Load the catalogue's confirmed photos as references if the catalogue changed.

        Features of each photo are computed once per model and kept in the catalogue
        (`embeddings`), so a confirmation costs one photo's views (~60 ms), not a rebuild.
        Returns the number of references.
        """
        with self._references_lock:
            self._references_checked = time.monotonic()
            revision = self.catalogue.revision()
            if revision != self._references_revision:
                confirmed = self.catalogue.confirmed()
                vectors = self.catalogue.get_embeddings(self.model_key, [sha for _, sha in confirmed])
                for _, sha in confirmed:
                    if sha not in vectors:
                        vectors[sha] = np.asarray(self.outputs(self.catalogue.load_photo(sha))["features"], np.float32)
                        self.catalogue.put_embedding(self.model_key, sha, vectors[sha])
                features = np.stack([vectors[sha] for _, sha in confirmed]) if confirmed else None
                self.enrolment.set_references([motif for motif, _ in confirmed], features)
                self._references_revision = revision
            return sum(self.enrolment.references.values())

    def _catalogue_match(self, outputs: dict) -> Match | None:
        if self.enrolment is None or "features" not in outputs:
            return None
        if time.monotonic() - self._references_checked >= REFERENCES_REFRESH:
            self.refresh_references()  # another process (or app worker) may have confirmed photos
        return self.enrolment.match(outputs["features"])

    def _open_scorers(self) -> tuple[OpenSetScorer | None, ClothScorer | None]:
        """The open-set scorer and the cloth scorer; None for what calibration did not fit."""
        settings = self.card.open_set
        if not settings or settings.get("threshold") is None:
            return None, None  # an uncalibrated model rejects through its unknown class only
        path, arrays = self.model_dir / OPEN_SET_FILE, self._open_set_arrays
        rebuild = f"{path} is missing or incomplete; run `sasirangan calibrate {self.model_dir}` to rebuild it."
        scorer = OpenSetScorer.from_dict(settings, {k: v for k, v in arrays.items() if not k.startswith(("cloth_", "enrol_"))})
        if scorer.method in ("mahalanobis", "cosine") and "centres" not in arrays:
            raise FileNotFoundError(rebuild)
        cloth_settings = (self.card.verdict or {}).get("cloth")
        if not cloth_settings:
            return scorer, None
        try:
            return scorer, ClothScorer.from_dict(cloth_settings, arrays)
        except KeyError:
            raise FileNotFoundError(rebuild) from None

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

    def outputs(self, image, views: Views | None = None) -> dict[str, np.ndarray]:
        """Model outputs (probabilities, logits, features, embedding) for any picture,
        averaged over its views (the model card's unless `views` is given; the live webcam
        path passes `views.WHOLE`)."""
        prepared = image_views(load_image(image), self.image_size, views or self.views)
        per_view = [self.raw_outputs(view) for view in prepared]
        stacked = {key: np.stack([o[key] for o in per_view]) for key in per_view[0]}
        return {key: value[0] for key, value in average_outputs(stacked, [len(prepared)]).items()}

    def probabilities(self, image) -> np.ndarray:
        """Calibrated class probabilities for any picture `load_image` accepts."""
        return self.calibrated(self.outputs(image))

    def calibrated(self, outputs: dict) -> np.ndarray:
        if "logits" not in outputs:
            return np.asarray(outputs["probabilities"])
        return softmax(outputs["logits"], self.temperature).astype(np.float32)

    def predict(self, image, top_k: int = 3, views: Views | None = None) -> Prediction:
        """Name the motif in one picture (path, bytes, PIL image or RGB array), or say why not.

        Raises:
            ImageError: the picture cannot be read; the message says why.
        """
        started = time.perf_counter()
        picture = load_image(image)
        outputs = self.outputs(picture, views)
        return self.decide(outputs, top_k, time.perf_counter() - started, picture, still=True)

    def decide(self, outputs, top_k: int = 3, seconds: float = 0.0, picture: np.ndarray | None = None,
               still: bool = False) -> Prediction:
        """Turn model outputs (a dict, possibly averaged over frames) into one of three answers.

        "motif" when the best motif is confident and the cloth score (or, without one, the
        open-set score) accepts the picture; otherwise "uncertain" or "not_motif"
        (`sasirangan.verdict.decide_verdict`). With the `picture` (RGB uint8), a picture too
        dark to judge, or one that is too bright, too blurry or shows too little cloth when no
        motif is named, is answered "uncertain" with what to do (`verdict.picture_problem`).
        With a catalogue, a picture nearer a catalogue motif's references than any other motif
        (`enrol.Enrolment.match`) and not judged "not cloth" is named as that motif
        (`source="catalogue"`), whatever the model's own classes say; and when none is named and
        every motif has references, its closest motifs are the catalogue's ranking; without such a
        catalogue, the model's own. Both only for a `still` picture (an upload or a file:
        `predict`); on live frames the catalogue names only motifs the model does not know, and
        the guesses stay the model's: there the model's head, trained on webcam-like views, was
        right more often (BENCHMARKS.md, "Which guesses a not-sure answer shows", "Confirmed
        photos and the webcam"). The mean of the model's and the nearest training pictures'
        shares was shown on uploads for a day, and left out again by a rule pooled over nine
        retrained heads ("Without a catalogue: the nearest training picture as guesses?").
        A bare probability vector skips the open-set and cloth scores.
        """
        if not isinstance(outputs, dict):
            outputs = {"probabilities": np.asarray(outputs)}
        probabilities = self.calibrated(outputs)
        order = np.argsort(probabilities)[::-1]
        best, confidence = self.class_names[int(order[0])], float(probabilities[order[0]])
        rows = {key: np.asarray(value)[None] for key, value in outputs.items()}
        score = float(self.scorer.score(rows)[0]) if self.scorer is not None and "logits" in outputs else None
        cloth = (float(self.cloth_scorer.score(self.cloth_scorer.rows(rows))[0])
                 if self.cloth_scorer is not None and all(name in outputs for name in self.cloth_scorer.inputs) else None)
        open_set_ok = None if score is None else score >= self.scorer.threshold_
        is_cloth = None if cloth is None else cloth >= self.cloth_scorer.threshold_
        unknown_share = (float(probabilities[self.class_names.index(UNKNOWN_CLASS)])
                         if UNKNOWN_CLASS in self.class_names else 0.0)
        verdict = decide_verdict(best != UNKNOWN_CLASS, confidence, self.confident, open_set_ok, is_cloth,
                                 best == UNKNOWN_CLASS, unknown_share, self.unknown_ceiling)
        match = self._catalogue_match(outputs)
        from_catalogue = (match is not None and match.named and match.motif != UNKNOWN_CLASS
                          and is_cloth is not False and (still or match.motif not in self.enrolment.class_names_))
        problem = picture_problem(picture, MOTIF if from_catalogue else verdict)
        if from_catalogue and problem is None:
            return Prediction(label=match.motif, confidence=match.shares[match.motif],
                              top=closest_motifs(match.shares, top_k),
                              probabilities=match.shares, seconds=seconds, score=score, verdict=MOTIF, cloth=cloth,
                              match=match, source="catalogue")
        if problem is not None:
            verdict = UNCERTAIN
        shares = {name: float(p) for name, p in zip(self.class_names, probabilities)}
        top = closest_motifs(shares, top_k)
        reason = self._reason(verdict, best, confidence, open_set_ok, is_cloth, problem, unknown_share)
        if verdict == MOTIF and self._also_near_catalogue(match, best):
            verdict, reason, shares = UNCERTAIN, REASON_NEAR_CATALOGUE.format(motif=match.motif, best=best), match.shares
            top = closest_motifs(shares, top_k)
        elif still and verdict != MOTIF and self._catalogue_ranks_every_motif(match):
            shares = match.shares
            top = closest_motifs(shares, top_k)
        return Prediction(
            label=best if verdict == MOTIF else UNKNOWN_CLASS,
            confidence=confidence,
            top=top,
            probabilities=shares,
            seconds=seconds,
            reason=reason,
            score=score,
            verdict=verdict,
            cloth=cloth,
            problem=problem.code if problem else None,
            advice=problem.advice if problem else None,
            match=match,
        )

    def _also_near_catalogue(self, match: Match | None, best: str) -> bool:
        """The model names one motif, but the picture is almost as near a new motif that people
        enrolled in the catalogue (within `NEAR_CATALOGUE_BAND` of its margin): not sure which.
        Not for a motif the model knows itself: with photos of every motif confirmed, some motif's
        references are always that near, and the band left 84 of 320 webcam frames named where
        the model alone named 286 (BENCHMARKS.md, "Confirmed photos and the webcam")."""
        return (match is not None and match.motif not in (best, UNKNOWN_CLASS, *self.enrolment.class_names_)
                and match.margin >= self.enrolment.margin - NEAR_CATALOGUE_BAND)

    def _catalogue_ranks_every_motif(self, match: Match | None) -> bool:
        """The catalogue holds references of every motif the model knows: its ranking (the
        match's shares) then put the right motif first on 46% of other batik photos no motif was
        named for, against the model's 33%; with only some motifs enrolled it did not."""
        return match is not None and all(name in self.enrolment.references
                                         for name in self.class_names if name != UNKNOWN_CLASS)

    def _reason(self, verdict, best, confidence, open_set_ok, is_cloth, problem, unknown_share=0.0) -> str | None:
        """Why no motif is named, in words (None when one is)."""
        if problem is not None:
            return problem.message
        if verdict == MOTIF:
            return None
        if verdict == NOT_MOTIF:
            return REASON_NOT_CLOTH if is_cloth is False else REASON_UNKNOWN_CLASS
        if best == UNKNOWN_CLASS:
            return REASON_CLOTH if is_cloth else REASON_UNKNOWN_CLASS
        if open_set_ok is False and is_cloth is None:
            return REASON_LOW_SCORE
        if confidence >= self.confident and unknown_share > self.unknown_ceiling:
            return REASON_OTHER_CLOTH.format(best=best, confidence=confidence, unknown=unknown_share,
                                             ceiling=self.unknown_ceiling)
        return REASON_NOT_SURE.format(confidence=confidence, confident=self.confident)
