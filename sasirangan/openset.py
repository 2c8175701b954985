"""A post-hoc "is this a motif I know?" score, so rejection does not rest on the unknown class alone.

A trained `unknown` class only rejects what looks like its own negatives. The scorer looks at
what the model computes for a picture and rejects it when its score falls below a threshold set
on the validation split, so that a chosen share (e.g. 95%) of known-class images is accepted.

Methods (higher score = more like a known motif). Each reads one entry of the model outputs
(`model.serving_model`: probabilities, logits, features, embedding):
- "mahalanobis" (default): minus the smallest Mahalanobis distance of the mid-level embedding
  (pooled `block_13_expand_relu` activations) to a class centre, with one shared Ledoit-Wolf
  covariance (Lee et al. 2018). Chosen by measurement: it separated known batik from both
  non-textiles and unseen Sasirangan cloth best (benchmarks/openset_methods.py, BENCHMARKS.md);
- "cosine": cosine similarity of the pooled features to the nearest class centre;
- "energy": logsumexp of the known-class logits (Liu et al. 2020);
- "max_logit": the largest known-class logit (Hendrycks et al. 2022);
- "msp": the largest softmax probability (the classic baseline).
"""

from __future__ import annotations

import numpy as np

from .calibrate import NotFittedError, softmax

METHODS = ("mahalanobis", "cosine", "energy", "max_logit", "msp")
CENTRE_METHODS = ("mahalanobis", "cosine")


def _normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features / (np.linalg.norm(features, axis=-1, keepdims=True) + 1e-12)


class OpenSetScorer:
    """Scores how much a picture looks like the known classes, and where to draw the line.

    Args:
        method: one of "mahalanobis", "cosine", "energy", "max_logit", "msp".
        target_accept: share of known validation images the threshold accepts (default 0.95).
        known: indices of the known classes among the model's outputs (None = all).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> outputs = {"logits": rng.normal(size=(40, 3)), "features": rng.normal(size=(40, 8)),
        ...            "embedding": rng.normal(size=(40, 8))}
        >>> labels = rng.integers(0, 3, 40)
        >>> scorer = OpenSetScorer("cosine").fit(outputs, labels, outputs, labels)
        >>> float(scorer.is_known(outputs).mean()) >= 0.9
        True
    """

    def __init__(self, method: str = "mahalanobis", target_accept: float = 0.95, known=None):
        self.method = method
        self.target_accept = target_accept
        self.known = known

    def _check(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}. Received: method={self.method!r}.")
        if not 0 < self.target_accept <= 1:
            raise ValueError(f"target_accept must be in (0, 1]. Received: target_accept={self.target_accept}.")

    def _known(self, n_outputs: int) -> np.ndarray:
        return np.arange(n_outputs) if self.known is None else np.asarray(self.known)

    def _input(self, outputs: dict) -> np.ndarray:
        key = {"mahalanobis": "embedding", "cosine": "features"}.get(self.method, "logits")
        return np.atleast_2d(np.asarray(outputs[key], dtype=np.float64))

    def score(self, outputs: dict) -> np.ndarray:
        """Higher means more like a known motif; one score per row of the outputs."""
        values = self._input(outputs)
        if self.method in CENTRE_METHODS and not hasattr(self, "centres_"):
            raise NotFittedError("This OpenSetScorer is not fitted yet; call fit(...) first.")
        if self.method == "mahalanobis":
            # With precision = W W^T, the distance is a plain squared distance after x -> x W:
            # one matrix product per picture instead of one per class (this runs every frame).
            if getattr(self, "_whitened_for", None) is not self.precision_:
                self._whiten = np.linalg.cholesky(self.precision_)
                self._whitened_centres = self.centres_ @ self._whiten
                self._whitened_for = self.precision_
            projected = values @ self._whiten
            distances = ((projected[:, None, :] - self._whitened_centres[None, :, :]) ** 2).sum(axis=2)
            return -distances.min(axis=1)
        if self.method == "cosine":
            return (_normalise(values) @ self.centres_.T).max(axis=1)
        known = self._known(values.shape[1])
        if self.method == "msp":
            return softmax(values)[:, known].max(axis=1)
        known_logits = values[:, known]
        if self.method == "max_logit":
            return known_logits.max(axis=1)
        top = known_logits.max(axis=1, keepdims=True)  # energy, computed stably
        return (top + np.log(np.exp(known_logits - top).sum(axis=1, keepdims=True)))[:, 0]

    def fit(self, train_outputs: dict, train_labels, val_outputs: dict, val_labels) -> "OpenSetScorer":
        """Class centres from the training split, the threshold from the validation split.

        Only images of known classes are used; labels are output indices.
        """
        self._check()
        train_labels, val_labels = np.asarray(train_labels), np.asarray(val_labels)
        known = self._known(np.asarray(val_outputs["logits"]).shape[-1])
        if self.method in CENTRE_METHODS:
            values = self._input(train_outputs)
            if self.method == "cosine":
                values = _normalise(values)
            present = [k for k in known if np.any(train_labels == k)]
            centres = np.stack([values[train_labels == k].mean(axis=0) for k in present])
            if self.method == "cosine":
                self.centres_ = _normalise(centres)
            else:
                from sklearn.covariance import LedoitWolf

                in_known = np.isin(train_labels, present)
                index = {k: i for i, k in enumerate(present)}
                residuals = values[in_known] - centres[[index[k] for k in train_labels[in_known]]]
                self.centres_ = centres
                self.precision_ = LedoitWolf().fit(residuals).precision_
        is_known = np.isin(val_labels, known)
        if not is_known.any():
            raise ValueError("The validation split has no images of known classes to set the threshold on.")
        scores = self.score({key: np.asarray(value)[is_known] for key, value in val_outputs.items()})
        self.threshold_ = float(np.quantile(scores, 1.0 - self.target_accept))
        return self

    def is_known(self, outputs: dict) -> np.ndarray:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("This OpenSetScorer is not fitted yet; call fit(...) first.")
        return self.score(outputs) >= self.threshold_

    # -- persistence: settings go in the model card, arrays in open_set.npz ------------------

    def to_dict(self) -> dict:
        return {"method": self.method, "target_accept": self.target_accept,
                "threshold": getattr(self, "threshold_", None),
                "known": None if self.known is None else [int(k) for k in self.known]}

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name + "_").astype(np.float32)
                for name in ("centres", "precision") if hasattr(self, name + "_")}

    @classmethod
    def from_dict(cls, settings: dict, arrays=None) -> "OpenSetScorer":
        scorer = cls(settings["method"], settings["target_accept"], settings.get("known"))
        if settings.get("threshold") is not None:
            scorer.threshold_ = float(settings["threshold"])
        for name, value in (arrays or {}).items():
            setattr(scorer, name + "_", np.asarray(value, dtype=np.float64))
        return scorer
