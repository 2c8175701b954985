"""Three kinds of answer: "this motif", "cloth, but not sure which motif", "not a motif".

One photo per motif cannot teach a model every cloth of that motif, so an honest answer
needs two questions, each with its own score:
- is it cloth or pattern of the kind the model was trained on? A logistic regression on the
  backbone's pooled mid-level and last layers (`ClothScorer`, `CLOTH_INPUTS`), fitted on views
  and webcam-like frames of the motifs and the cloth negatives
  (`--cloth-dir`: other motifs, other cloth) against the pictures that are not cloth
  (`--unknown-dir`, the data folder's `unknown/`);
- which motif, and how sure? The calibrated probability of the best motif, which must reach
  the model's `confident` threshold, and the open-set score (`sasirangan.openset`), which
  must reach its own.
`decide_verdict` combines them; the thresholds are fitted on the validation split by
`sasirangan.calibrate.calibrate_model_folder` and stored in the model card (`verdict`).
Why this rule and these thresholds: BENCHMARKS.md, "Honest answers" (issue 10).
"""

from __future__ import annotations

import numpy as np

from .calibrate import NotFittedError

MOTIF, UNCERTAIN, NOT_MOTIF = "motif", "uncertain", "not_motif"
VERDICTS = (MOTIF, UNCERTAIN, NOT_MOTIF)
DEFAULT_CONFIDENT = 0.5  # a motif is named when it is more likely than everything else together
NO_UNKNOWN_CEILING = 1.0  # the unknown class's probability does not stop a confident motif being named
CLOTH_TARGET_ACCEPT = 0.975  # share of validation cloth pictures the cloth threshold accepts
CLOTH_INPUTS = ("embedding", "scene")  # serving outputs the cloth score reads: texture, and what the picture shows
LEGACY_CLOTH_INPUTS = ("features",)  # models without a scene output (backbone cut at its embedding)
CLOTH_FRAMES = 2  # webcam-like frames of each train and validation picture the cloth score also learns from


class ClothScorer:
    """Cloth-or-pattern probability of a picture, from the backbone's pooled outputs.

    Args:
        target_accept: share of validation cloth pictures the threshold accepts; the
            threshold is never above 0.5, so a picture the scorer thinks more likely cloth
            than not always counts as cloth.
        C: inverse regularisation strength of the logistic regression.
        inputs: the serving outputs it reads, side by side (`rows`): the mid-level
            embedding and the scene (the last layer) by default; a backbone's last layer
            knows rooms, faces and objects, which kept 2 more held-out non-textiles out of
            45 while naming as many webcam frames (BENCHMARKS.md, "Honest answers").

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(1, 1, (30, 4)), rng.normal(-1, 1, (30, 4))]
        >>> y = np.r_[np.ones(30, bool), np.zeros(30, bool)]
        >>> scorer = ClothScorer().fit(x, y, x, y)
        >>> bool(scorer.is_cloth(x[:30]).mean() > 0.9)
        True
    """

    def __init__(self, target_accept: float = CLOTH_TARGET_ACCEPT, C: float = 0.1, inputs=CLOTH_INPUTS):
        self.target_accept = target_accept
        self.C = C
        self.inputs = tuple(inputs)

    def rows(self, outputs: dict) -> np.ndarray:
        """The scorer's input rows from model outputs (one picture's, or a batch's)."""
        missing = [name for name in self.inputs if name not in outputs]
        if missing:
            raise KeyError(f"The cloth score reads the model outputs {', '.join(self.inputs)}; "
                           f"{', '.join(missing)} is missing.")
        return np.concatenate([np.atleast_2d(np.asarray(outputs[name], np.float64)) for name in self.inputs], axis=1)

    def fit(self, features, is_cloth, val_features, val_is_cloth) -> "ClothScorer":
        from sklearn.linear_model import LogisticRegression

        features, is_cloth = np.asarray(features, np.float64), np.asarray(is_cloth, bool)
        if is_cloth.all() or not is_cloth.any():
            raise ValueError("The cloth score needs training pictures of cloth and of things that are not cloth.")
        self.mean_ = features.mean(axis=0)
        self.scale_ = features.std(axis=0) + 1e-6
        regression = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000)
        regression.fit((features - self.mean_) / self.scale_, is_cloth)
        self.coef_, self.intercept_ = regression.coef_[0], np.asarray(regression.intercept_, np.float64)
        val_is_cloth = np.asarray(val_is_cloth, bool)
        cloth_scores = self.score(val_features)[val_is_cloth]
        quantile = float(np.quantile(cloth_scores, 1 - self.target_accept)) if len(cloth_scores) else 0.5
        self.threshold_ = min(0.5, quantile)
        return self

    def score(self, features) -> np.ndarray:
        """Probability that each row's picture is cloth or pattern."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("This ClothScorer is not fitted yet; call fit(...) first.")
        features = np.atleast_2d(np.asarray(features, np.float64))
        logits = ((features - self.mean_) / self.scale_) @ self.coef_ + self.intercept_[0]
        return 1.0 / (1.0 + np.exp(-logits))

    def is_cloth(self, features) -> np.ndarray:
        return self.score(features) >= self.threshold_

    # -- persistence: the threshold goes in the model card, arrays in open_set.npz ----------

    ARRAYS = ("mean", "scale", "coef", "intercept")

    def to_dict(self) -> dict:
        return {"target_accept": self.target_accept, "C": self.C, "inputs": list(self.inputs),
                "threshold": getattr(self, "threshold_", None)}

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"cloth_{name}": getattr(self, name + "_").astype(np.float32) for name in self.ARRAYS}

    @classmethod
    def from_dict(cls, settings: dict, arrays: dict) -> "ClothScorer":
        scorer = cls(settings.get("target_accept", CLOTH_TARGET_ACCEPT), settings.get("C", 0.1),
                     settings.get("inputs", LEGACY_CLOTH_INPUTS))
        scorer.threshold_ = float(settings["threshold"])
        for name in cls.ARRAYS:
            if f"cloth_{name}" not in arrays:
                raise KeyError(f"cloth_{name}")
            setattr(scorer, name + "_", np.asarray(arrays[f"cloth_{name}"], np.float64))
        return scorer


def decide_verdict(top_is_motif: bool, confidence: float, confident: float, open_set_ok: bool | None,
                   is_cloth: bool | None, unknown_class_won: bool, unknown_share: float = 0.0,
                   unknown_ceiling: float = NO_UNKNOWN_CEILING) -> str:
    """The kind of answer for one picture.

    Args:
        top_is_motif: the most probable class is a motif (not the `unknown` class).
        confidence: its calibrated probability.
        confident: the model's threshold for naming a motif.
        open_set_ok: the open-set score reaches its threshold (None: the model has none).
        is_cloth: the cloth score says cloth (None: the model has no cloth score).
        unknown_class_won: the `unknown` class is the most probable class.
        unknown_share: the `unknown` class's calibrated probability.
        unknown_ceiling: the most it may have while a motif is named: a motif a little less
            sure than `confident` asks, whose doubt is between motifs rather than with other
            cloth, can then be named (BENCHMARKS.md, "Honest answers").

    A motif is named only when it is confident, the unknown class stays under its ceiling,
    and the picture is judged cloth by the cloth
    score or, for a model without one, accepted by the open-set score. (The open-set
    threshold is set on clean validation views: it accepted 2.5% of webcam-like frames of
    motifs the model names, so with a cloth score and an unknown class trained on other
    cloth it is not a gate; BENCHMARKS.md.) Otherwise the cloth score decides between "not
    sure which motif" and "not a motif"; without one, the unknown class winning means "not
    a motif" (it looks like the negatives the model was trained on).
    """
    gate = is_cloth if is_cloth is not None else open_set_ok  # the cloth score, where there is one, replaces the open-set gate
    if top_is_motif and confidence >= confident and unknown_share <= unknown_ceiling and gate is not False:
        return MOTIF
    if is_cloth is not None:
        return UNCERTAIN if is_cloth else NOT_MOTIF
    return NOT_MOTIF if unknown_class_won else UNCERTAIN


def picture_problem(picture: np.ndarray | None, verdict: str):
    """What is wrong with the picture itself (a `quality.QualityProblem`), given the verdict.

    Too dark always wins: nothing can be judged. No pattern in view (plain cloth; or blown out)
    stops a motif being named, as any name would be a guess; a plain wall judged not a motif
    stays so.
    Overexposed, blurry, and cloth too small in the frame are the explanation only when the
    picture looks like cloth but no motif is confident: a motif named on a soft webcam frame
    stands (the model names most of them), and a stamp on white paper, which reads as
    overexposed, is still not a motif.
    """
    from .quality import check_coverage, exposure_focus_measures, judge_exposure_and_focus, judge_pattern

    if picture is None:
        return None
    measures = exposure_focus_measures(picture)
    problem = judge_exposure_and_focus(measures)
    if problem is not None and problem.code == "too_dark":
        return problem
    if verdict == NOT_MOTIF:
        return None
    plain = judge_pattern(measures)
    if plain is not None:  # a blown-out picture has no pattern either: say why
        return problem if problem is not None and problem.code == "too_bright" else plain
    if verdict != UNCERTAIN:
        return None
    return problem or check_coverage(picture)


def cloth_labels(samples, unknown_class: str | None, cloth_dirs) -> np.ndarray:
    """Which samples show cloth: every motif's, and the unknown ones from a `--cloth-dir`.

    Files are compared by their resolved paths, so a cloth dir of symbolic links (e.g. half
    of a shared folder, the other half kept aside to measure on) works.

    Raises:
        FileNotFoundError: a cloth dir is gone (calibration needs the training photos).
    """
    import os
    from pathlib import Path

    cloth_files = set()
    for folder in cloth_dirs:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"The cloth folder '{folder}' the model was trained with is gone.")
        for dirpath, _, filenames in os.walk(folder, followlinks=True):
            cloth_files.update(str((Path(dirpath) / name).resolve()) for name in filenames)
    return np.array([s.label != unknown_class or str(Path(s.path).resolve()) in cloth_files for s in samples],
                    dtype=bool)
