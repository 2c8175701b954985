"""Enrol motifs without retraining: nearest class centre over the model's pooled features.

A confirmed catalogue photo becomes a reference at once: its pooled backbone features (the
head's input, averaged over the model card's views) join the motif's *prototype*, the mean
of its references. A picture is named as a catalogue motif when its cosine similarity to that
prototype, plus `ENROL_MARGIN`, reaches its similarity to the centre of every other motif. (The
margin is slightly negative: a prototype of 5 photos is a rougher centre than one averaged over
a model's whole training split, so it is given a little slack.) The other centres
are the model's own classes (means of its training features, fitted by `sasirangan
calibrate` and stored in `open_set.npz`) and the other catalogue motifs, so an enrolled motif
must beat what the model already knows, the `unknown` class included. Photos of a motif the
model already has as a class join its centre (the nearer of the two counts) and name it only
from `KNOWN_MOTIF_MARGIN`, well above 0: once every motif has references the nearest always
leads, and a slack margin would name every picture.

Why prototypes against class centres and not a fixed similarity threshold: an absolute
similarity means something different for every motif, while "nearer this motif than anything the
model knows" does not; and a prototype (the mean of 5 references) was steadier than the nearest
single reference. The margin was chosen on five left-out batik motifs and checked on five others
(BENCHMARKS.md, "Enrolling a motif without retraining").

The same embedding also keeps every motif's training pictures (`nearest_shares`), which
`benchmarks/confirmed_photos.py --nearest` compares with the model's guesses: meaned with the
model's shares they were level with the model alone on the photos the choice was made on, so no
answer uses them (BENCHMARKS.md, "Without a catalogue: the nearest training picture as guesses?").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibrate import NotFittedError
from .config import UNKNOWN_CLASS

ENROL_MARGIN = -0.08  # cosine margin over the nearest other centre from which a catalogue motif is named (chosen: BENCHMARKS.md)
# The margin for confirmed photos of a motif the model already knows. When every motif has
# references, the nearest one always leads the others by >= 0, so ENROL_MARGIN would name every
# picture: on batik10, 43% of other cloth named wrongly, and with the bundled model 18 of 19
# Sasirangan cloths of other motifs. Chosen by `benchmarks/confirmed_photos.py` on its choice
# half: the lowest margin naming at most 5% wrongly (BENCHMARKS.md, "Confirmed photos of motifs
# the model knows").
KNOWN_MOTIF_MARGIN = 0.20
SHARE_TEMPERATURE = 0.05  # cosine similarities -> shares among the motifs (for display only)
ARRAY_PREFIX = "enrol_"


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def similarity_shares(similarities: dict[str, float]) -> dict[str, float]:
    """{motif: cosine similarity} -> {motif: share}, summing to 1 (a softmax at
    `SHARE_TEMPERATURE`): how the catalogue's match and the nearest training pictures are shown
    and ranked beside the model's probabilities."""
    scaled = np.array(list(similarities.values()), np.float64) / SHARE_TEMPERATURE
    shares = np.exp(scaled - scaled.max())
    return {name: float(share) for name, share in zip(similarities, shares / shares.sum())}


@dataclass(frozen=True)
class Match:
    """The nearest catalogue motif for one picture."""

    motif: str  # slug of the nearest catalogue motif
    similarity: float  # cosine similarity to its prototype
    margin: float  # similarity minus that of the nearest centre of another motif
    rival: str  # that other motif
    references: int  # confirmed photos behind the prototype
    shares: dict  # {slug: share} among all motifs' centres (softmax of similarities), for display
    named: bool  # margin reaches the threshold: the answer is this motif


class Enrolment:
    """Class centres of the model's own classes, plus prototypes of catalogue motifs.

    Args:
        margin: a catalogue prototype's similarity minus the best other centre's must reach
            this (`ENROL_MARGIN`; negative: it may lose by a little).
        known_margin: the same for a motif that is also one of the model's classes
            (`KNOWN_MOTIF_MARGIN`): references then strengthen a motif the model can already
            name, and must be clearly nearer than every other motif to name it themselves.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> known = rng.normal(0, 1, (40, 8)) + np.repeat(np.eye(8)[:2] * 4, 20, axis=0)
        >>> enrolment = Enrolment().fit(known, np.repeat([0, 1], 20), ["a", "b"])
        >>> enrolment.set_references(["new"] * 5, rng.normal(0, 1, (5, 8)) + np.eye(8)[2] * 4)
        >>> enrolment.match(np.eye(8)[2] * 4).motif
        'new'
    """

    def __init__(self, margin: float = ENROL_MARGIN, known_margin: float = KNOWN_MOTIF_MARGIN):
        self.margin, self.known_margin = margin, known_margin
        # (motif names, their prototypes, references per motif), replaced as one tuple so a
        # match running in another thread never sees names and prototypes of two versions.
        self._enrolled: tuple[list[str], np.ndarray, dict[str, int]] = ([], np.zeros((0, 0)), {})

    @property
    def references(self) -> dict[str, int]:
        """Confirmed catalogue photos per enrolled motif."""
        return self._enrolled[2]

    def fit(self, features, labels, class_names) -> "Enrolment":
        """Standardisation and one centre per class, from the model's training features."""
        features, labels = np.asarray(features, np.float64), np.asarray(labels)
        self.mean_ = features.mean(axis=0)
        self.scale_ = features.std(axis=0) + 1e-6
        present = [i for i in range(len(class_names)) if np.any(labels == i)]
        self.class_names_ = [class_names[i] for i in present]
        self.centres_ = _unit(np.stack([self._embed(features[labels == i]).mean(axis=0) for i in present]))
        motif_rows = np.array([class_names[i] != UNKNOWN_CLASS for i in labels], bool)
        # Stored as float16 (the bundled model's 768 motif crops take 0.9 MB, not 1.8), so
        # rounded as such here too: a fitted and a loaded enrolment rank alike.
        self.pictures_ = self._embed(features[motif_rows]).astype(np.float16).astype(np.float32)
        self.picture_classes_ = np.array([self.class_names_.index(class_names[i]) for i in labels[motif_rows]], np.int16)
        return self

    def _embed(self, features) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise NotFittedError("This Enrolment has no class centres; run `sasirangan calibrate` on the model folder.")
        return _unit((np.atleast_2d(np.asarray(features, np.float64)) - self.mean_) / self.scale_)

    def set_references(self, motifs, features) -> None:
        """Replace the catalogue's references: one motif slug per row of pooled features."""
        motifs = list(motifs)
        references = {motif: motifs.count(motif) for motif in dict.fromkeys(motifs)}
        if not motifs:
            self._enrolled = ([], np.zeros((0, len(self.mean_))), {})
            return
        embedded = self._embed(features)
        rows = np.array(motifs)
        names = list(references)
        self._enrolled = (names, _unit(np.stack([embedded[rows == motif].mean(axis=0) for motif in names])), references)

    @property
    def has_pictures(self) -> bool:
        """Whether the training pictures are kept (folders calibrated before 2026-12-06 lack them)."""
        return getattr(self, "pictures_", None) is not None and len(self.pictures_) > 0

    def nearest_shares(self, features) -> dict[str, float]:
        """{motif: share} of one picture from its cosine similarity to each motif's nearest
        training picture (`similarity_shares`). A photo's many training crops, not their mean:
        a camera's view of a cloth is nearer one crop of it than the centre of them all.

        Raises:
            NotFittedError: the model folder keeps no training pictures (`has_pictures`).
        """
        if not self.has_pictures:
            raise NotFittedError("This model folder keeps no training pictures; run "
                                 "`sasirangan calibrate MODEL_DIR --centres-only` (it needs the model's training photos).")
        similarities = self.pictures_ @ self._embed(features)[0].astype(np.float32)
        nearest = np.full(len(self.class_names_), -np.inf)
        np.maximum.at(nearest, self.picture_classes_, similarities)
        return similarity_shares({name: float(value) for name, value in zip(self.class_names_, nearest)
                                  if np.isfinite(value)})

    def match(self, features) -> Match | None:
        """The nearest catalogue motif of one picture (None when nothing is enrolled)."""
        enrolled_names, prototypes, references = self._enrolled
        if not enrolled_names:
            return None
        query = self._embed(features)[0]
        names = self.class_names_ + enrolled_names
        similarities = np.r_[self.centres_ @ query, prototypes @ query]
        best_by_motif: dict[str, float] = {}
        for name, similarity in zip(names, similarities):
            best_by_motif[name] = max(similarity, best_by_motif.get(name, -np.inf))
        enrolled = max(enrolled_names, key=lambda name: best_by_motif[name])
        rival = max((name for name in best_by_motif if name != enrolled), key=best_by_motif.get, default=None)
        rival_similarity = best_by_motif[rival] if rival is not None else -1.0
        margin = float(best_by_motif[enrolled] - rival_similarity)
        return Match(motif=enrolled, similarity=float(best_by_motif[enrolled]), margin=margin, rival=rival or "",
                     references=references[enrolled], shares=similarity_shares(best_by_motif),
                     named=margin >= (self.known_margin if enrolled in self.class_names_ else self.margin))

    # -- persistence: arrays in open_set.npz, beside the open-set and cloth scores ------------

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"{ARRAY_PREFIX}mean": self.mean_.astype(np.float32), f"{ARRAY_PREFIX}scale": self.scale_.astype(np.float32),
                  f"{ARRAY_PREFIX}centres": self.centres_.astype(np.float32),
                  f"{ARRAY_PREFIX}classes": np.array(self.class_names_)}
        if self.has_pictures:
            arrays[f"{ARRAY_PREFIX}pictures"] = self.pictures_.astype(np.float16)
            arrays[f"{ARRAY_PREFIX}picture_classes"] = self.picture_classes_.astype(np.int16)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict, margin: float = ENROL_MARGIN,
                    known_margin: float = KNOWN_MOTIF_MARGIN) -> "Enrolment":
        """The fitted centres from open_set.npz's arrays.

        Raises:
            NotFittedError: the model folder was calibrated before enrolment existed.
        """
        enrolment = cls(margin, known_margin)
        if f"{ARRAY_PREFIX}centres" not in arrays:
            raise NotFittedError("This model folder has no class centres for enrolling catalogue motifs; run "
                                 "`sasirangan calibrate MODEL_DIR --centres-only` (it needs the model's training photos).")
        enrolment.mean_ = np.asarray(arrays[f"{ARRAY_PREFIX}mean"], np.float64)
        enrolment.scale_ = np.asarray(arrays[f"{ARRAY_PREFIX}scale"], np.float64)
        enrolment.centres_ = np.asarray(arrays[f"{ARRAY_PREFIX}centres"], np.float64)
        enrolment.class_names_ = [str(name) for name in arrays[f"{ARRAY_PREFIX}classes"]]
        if f"{ARRAY_PREFIX}pictures" in arrays:
            enrolment.pictures_ = np.asarray(arrays[f"{ARRAY_PREFIX}pictures"], np.float32)
            enrolment.picture_classes_ = np.asarray(arrays[f"{ARRAY_PREFIX}picture_classes"], np.int16)
        return enrolment


def add_class_centres(model_dir, verbose: bool = True) -> Enrolment:
    """Fit the class centres (and keep the training pictures) of a model folder calibrated before
    they existed, and add them to its open_set.npz, leaving the temperature and thresholds as they are.

    The centres read the backbone's pooled features of the training split, which a refit of the
    head does not change, so they can be added to a refit model without refitting anything else.

    Raises:
        FileNotFoundError: the model's training photos are gone.
    """
    from pathlib import Path

    from .card import OPEN_SET_FILE
    from .evaluate import model_outputs
    from .model import load_model_folder

    model_dir = Path(model_dir)
    model, class_names, card = load_model_folder(model_dir)
    samples = card.samples("train", model_dir)
    missing = [s.path for s in samples if not Path(s.path).is_file()]
    if missing:
        raise FileNotFoundError(f"Class centres need the model's training photos; {missing[0]} is gone.")
    index = {name: i for i, name in enumerate(class_names)}
    outputs = model_outputs(model, samples, class_names, int(model.input_shape[1]), card.view_spec)
    enrolment = Enrolment().fit(outputs["features"], np.array([index[s.label] for s in samples]), class_names)
    path = model_dir / OPEN_SET_FILE
    arrays = {key: value for key, value in np.load(path).items()} if path.is_file() else {}
    np.savez(path, **{**arrays, **enrolment.arrays()})
    if verbose:
        print(f"Added the centres of {len(enrolment.class_names_)} classes and {len(enrolment.pictures_)} training "
              f"pictures to {path}: catalogue motifs can be enrolled.")
    return enrolment
