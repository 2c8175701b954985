"""The evaluation report people can read: report.md plus PNGs, written into the model folder.

Everything goes through the `Predictor`, so the report measures exactly what the CLI and the
app answer (calibrated confidences, unknown class and open-set rejection included).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from .card import CURVES_FILE, EVALUATION_DIR, RELIABILITY_FILE, REPORT_FILE, ModelCard
from .calibrate import ece_interval, ece_of_calibrated_model, expected_calibration_error, softmax
from .config import UNKNOWN_CLASS
from .data import ImageError, Sample, load_image, near_duplicate_pairs, perceptual_hash, scan_folder, shift_hue
from .evaluate import compute_metrics, format_interval, format_summary, summary_of
from .predict import Predictor
from .progress import progress, watched
from .verdict import VERDICTS

WORST_MISTAKES = 12
HELD_OUT_REGIONS_FILE = "held_out_regions.jpg"  # JPEG: whole photos, which take 2 MB as a PNG
REGION_PHOTOS = 24  # photos drawn in the held-out regions figure, at most (in class order)
SPLIT_COLOURS = {"val": (40, 90, 255), "test": (255, 40, 40)}  # blue: where settings were chosen; red: measured


# --------------------------------------------------------------------------- perturbations


def _rotate(rgb, degrees):
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def _jpeg(rgb, quality):
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _small_on_background(rgb, share=0.4):
    height, width = rgb.shape[:2]
    canvas = np.full_like(rgb, 200)
    small = cv2.resize(rgb, (max(1, int(width * share)), max(1, int(height * share))), interpolation=cv2.INTER_AREA)
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def _close_up(rgb, share=0.5):
    """The centre `share` of the picture enlarged: a camera held closer to the cloth."""
    height, width = rgb.shape[:2]
    top, left = int(height * (1 - share) / 2), int(width * (1 - share) / 2)
    centre = rgb[top : top + max(1, int(height * share)), left : left + max(1, int(width * share))]
    return cv2.resize(centre, (width, height), interpolation=cv2.INTER_LINEAR)


def _blur(rgb):
    sigma = max(rgb.shape[:2]) / 224 * 2.0  # about 2 px at the model's resolution
    return cv2.GaussianBlur(rgb, (0, 0), sigma)


PERTURBATIONS = {
    "rotation +-30 deg": lambda rgb, i: _rotate(rgb, 30 if i % 2 == 0 else -30),
    "blur (2 px at model size)": lambda rgb, i: _blur(rgb),
    "brightness +40%": lambda rgb, i: np.clip(rgb.astype(np.float32) * 1.4, 0, 255).astype(np.uint8),
    "brightness -40%": lambda rgb, i: (rgb.astype(np.float32) * 0.6).astype(np.uint8),
    "JPEG quality 30": lambda rgb, i: _jpeg(rgb, 30),
    "small (40%) on plain background": lambda rgb, i: _small_on_background(rgb),
    "close-up (centre half enlarged)": lambda rgb, i: _close_up(rgb),
    "other colourway (hue turned 120 deg)": lambda rgb, i: shift_hue(rgb, 120 if i % 2 == 0 else 240),
}


# --------------------------------------------------------------------------- scoring


class _Images:
    """Decodes each file once, however many crops of it are evaluated."""

    def __init__(self):
        self._cache = {}

    def crop(self, sample: Sample) -> np.ndarray:
        if sample.path not in self._cache:
            self._cache[sample.path] = load_image(sample.path)
        return sample.view(self._cache[sample.path])


def _run(predictor: Predictor, images, what: str | None = None) -> dict[str, np.ndarray]:
    """Outputs per picture, averaged over the model's views exactly as the CLI and uploads are
    (with a progress bar saying `what`, when given and someone watches)."""
    outputs = [predictor.outputs(rgb) for rgb in progress(images, len(images), what or "", enabled=bool(what) and watched())]
    return {key: np.stack([o[key] for o in outputs]) for key in outputs[0]} if outputs else {}


def _decisions(predictor: Predictor, outputs: dict) -> list:
    return [predictor.decide({key: value[i] for key, value in outputs.items()}) for i in range(len(outputs["logits"]))]


def _known_score(predictor: Predictor, outputs: dict) -> np.ndarray:
    """Open-set score; without a scorer, the top known-class probability."""
    if predictor.scorer is not None:
        return predictor.scorer.score(outputs)
    known = [i for i, name in enumerate(predictor.class_names) if name != UNKNOWN_CLASS]
    return softmax(outputs["logits"], predictor.temperature)[:, known].max(axis=1)


def rejection_metrics(predictor: Predictor, known_outputs: dict, known_labels, unknown_outputs: dict) -> dict:
    """Share rejected, AUROC (known vs unknown) and the false-accept rate at 95% true-accept."""
    from sklearn.metrics import roc_auc_score

    names = predictor.class_names
    is_known_class = np.array([names[label] != UNKNOWN_CLASS for label in known_labels])
    known_scores = _known_score(predictor, {k: v[is_known_class] for k, v in known_outputs.items()})
    unknown_scores = _known_score(predictor, unknown_outputs)
    decisions = _decisions(predictor, unknown_outputs)
    rejected = np.array([d.is_unknown for d in decisions])
    threshold95 = np.quantile(known_scores, 0.05)
    return {
        "images": int(len(unknown_scores)),
        "rejected": float(rejected.mean()),
        "verdicts": {verdict: sum(d.verdict == verdict for d in decisions) for verdict in VERDICTS},
        "auroc": float(roc_auc_score(np.r_[np.ones(len(known_scores)), np.zeros(len(unknown_scores))],
                                     np.r_[known_scores, unknown_scores])),
        "fpr95": float(np.mean(unknown_scores >= threshold95)),
    }


def leakage_pairs(model_dir: Path, card: ModelCard, max_distance: int) -> list[tuple[str, str, str, str]]:
    """Near-duplicate pairs across splits (should be none), and crops overlapping across splits."""
    samples = {split: card.samples(split, model_dir) for split in ("train", "val", "test")}
    pairs = []
    whole = [(split, s.path) for split, items in samples.items() for s in items if not s.box]
    hashes = {}
    for _, path in whole:
        if path not in hashes and Path(path).is_file():
            try:
                hashes[path] = perceptual_hash(load_image(path))
            except ImageError:
                continue
    keyed = [(split, path) for split, path in whole if path in hashes]
    for i, j in near_duplicate_pairs([hashes[path] for _, path in keyed], max_distance):
        if keyed[i][0] != keyed[j][0]:
            pairs.append((keyed[i][0], keyed[i][1], keyed[j][0], keyed[j][1]))
    by_path = {}
    for split, items in samples.items():
        for sample in items:
            if sample.box:
                by_path.setdefault(sample.path, []).append((split, sample))
    for path, items in by_path.items():
        for i, (split_a, a) in enumerate(items):
            for split_b, b in items[i + 1 :]:
                if split_a != split_b and _shows_same_pixels(a, b):
                    pairs.append((split_a, f"{path} {a.box}", split_b, f"{path} {b.box}"))
    return pairs


def _shows_same_pixels(a: Sample, b: Sample) -> bool:
    """Two views of one photo overlap somewhere that neither of them hides."""
    overlap = (max(a.box[0], b.box[0]), max(a.box[1], b.box[1]), min(a.box[2], b.box[2]), min(a.box[3], b.box[3]))
    if overlap[2] <= overlap[0] or overlap[3] <= overlap[1]:
        return False
    inside = lambda r, rect: r[0] >= rect[0] - 1e-6 and r[1] >= rect[1] - 1e-6 and r[2] <= rect[2] + 1e-6 and r[3] <= rect[3] + 1e-6  # noqa: E731
    return not any(inside(overlap, rect) for rect in (*a.hide, *b.hide))


# --------------------------------------------------------------------------- report


MISTAKE_HEATMAPS_FILE = "worst_mistakes_heatmaps.png"


def _plot_where_it_looked(predictor, pictures, captions, path: Path) -> Path:
    """The worst mistakes again, each with a Grad-CAM heatmap of the class the model leaned to:
    whether it was misled by the motif or by the background (`sasirangan.explain`)."""
    from .explain import heatmap, overlay
    from .plots import plot_gallery

    overlays, looked = [], []
    for picture, caption in zip(pictures, captions):
        heat, index = heatmap(predictor.model, picture, image_size=predictor.image_size)
        overlays.append(overlay(picture, heat))
        looked.append(f"{caption}\nlooked at for: {predictor.class_names[index]}")
    return plot_gallery(overlays, looked, path)


def held_out_regions(splits: dict[str, list[Sample]]) -> dict[tuple[str, str], dict[str, tuple]]:
    """{(photo, class): {split: region}} for the photos split into regions (classes of few photos,
    `--samples-per-class`): the smallest box around each held-out split's crops of the photo.
    `splits`: {"val": samples, "test": samples}; samples without a box (whole photos) are skipped."""
    from .webcam import held_out_region

    boxes: dict = {}
    for split in SPLIT_COLOURS:
        for sample in splits.get(split, []):
            if sample.box:
                boxes.setdefault((sample.path, sample.label), {}).setdefault(split, []).append(sample.box)
    return {photo: {split: held_out_region(split_boxes) for split, split_boxes in photo_splits.items()}
            for photo, photo_splits in sorted(boxes.items(), key=lambda item: (item[0][1], item[0][0]))}


def plot_held_out_regions(splits: dict[str, list[Sample]], path: Path) -> Path | None:
    """Each photo split into regions, its validation region outlined in blue and its test region
    in red: the test figures measure the red corners only, and a corner that shows a border, a
    watermark or the floor rather than the motif measures little (BENCHMARKS.md, issue 10).
    None when no photo was split into regions (nothing to draw)."""
    from PIL import Image, ImageDraw

    from .plots import plot_gallery

    pictures, captions = [], []
    for (photo, label), regions in list(held_out_regions(splits).items())[:REGION_PHOTOS]:
        try:
            picture = Image.fromarray(load_image(photo))
        except ImageError:
            continue  # a photo gone since training: the rest of the report says so
        width, height = picture.size
        draw = ImageDraw.Draw(picture)
        for split, (left, top, right, bottom) in regions.items():
            draw.rectangle([left * width, top * height, right * width - 1, bottom * height - 1],
                           outline=SPLIT_COLOURS[split], width=max(2, max(width, height) // 100))
        pictures.append(np.asarray(picture))
        captions.append(f"{label}\n{width}x{height} px")
    return plot_gallery(pictures, captions, path) if pictures else None


def build_report(model_dir, data_dir=None, unknown_dirs=(), out_dir=None, verbose: bool = True) -> dict:
    """Evaluate a model folder and write report.md with its figures.

    Args:
        model_dir: the model folder.
        data_dir: evaluate every image of this folder instead of the model's own test split.
        unknown_dirs: folders of pictures that are none of the model's classes; each gets a
            rejection row (share rejected, AUROC, FPR at 95% true-accept).
        out_dir: where to write; default `<model_dir>/evaluation` (or `evaluation_<data name>`).

    Returns:
        The metrics dictionary also saved as metrics.json.
    """
    from .plots import plot_confusion_matrix, plot_gallery, plot_reliability, plot_roc, plot_training_curves

    model_dir = Path(model_dir)
    predictor = Predictor(model_dir)
    names, card = predictor.class_names, predictor.card
    images = _Images()
    if data_dir is None:
        samples = card.samples("test", model_dir)
        if not samples:
            raise ValueError(f"{model_dir} has no saved test split; pass a DATA_DIR to evaluate on.")
        missing = [s.path for s in samples if not Path(s.path).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} test image(s) of this model are gone (first: {missing[0]}). The model was "
                f"trained on '{card.data_dir}'; pass DATA_DIR to evaluate on another folder.")
        label = "the model's test split"
        out_dir = Path(out_dir or model_dir / EVALUATION_DIR)
    else:
        scan = scan_folder(data_dir)
        strangers = sorted(set(scan.class_names) - set(names))
        if strangers:
            raise ValueError(f"'{data_dir}' has class folder(s) the model does not know: {', '.join(strangers)}. "
                             f"The model knows: {', '.join(names)}.")
        samples, label = scan.samples, f"'{data_dir}'"
        out_dir = Path(out_dir or model_dir / f"evaluation_{Path(data_dir).resolve().name}")
    for folder in unknown_dirs:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"Unknown-images folder '{folder}' does not exist.")
    out_dir.mkdir(parents=True, exist_ok=True)

    index = {name: i for i, name in enumerate(names)}
    y_true = np.array([index[s.label] for s in samples])
    crops = [images.crop(s) for s in samples]
    outputs = _run(predictor, crops, "Evaluating" if verbose else None)
    decisions = _decisions(predictor, outputs)
    calibrated = softmax(outputs["logits"], predictor.temperature)

    metrics = compute_metrics(y_true, calibrated, names)  # closed-set: best class, no rejection
    decided = [d.label for d in decisions]
    decision_names = names if UNKNOWN_CLASS in names else [*names, UNKNOWN_CLASS]
    metrics["accuracy_with_rejection"] = float(np.mean([d == names[t] for d, t in zip(decided, y_true)]))
    metrics["known_rejected"] = float(np.mean([d == UNKNOWN_CLASS for d, t in zip(decided, y_true) if names[t] != UNKNOWN_CLASS]))
    from sklearn.metrics import confusion_matrix

    decision_matrix = confusion_matrix([names[t] for t in y_true], decided, labels=decision_names)
    metrics["decision_confusion_matrix"] = {"labels": decision_names, "matrix": decision_matrix.tolist()}
    metrics["ece_before"] = expected_calibration_error(softmax(outputs["logits"]), y_true)
    metrics["ece_after"] = expected_calibration_error(calibrated, y_true)
    metrics["ece_after_interval"] = ece_interval(calibrated, y_true)
    metrics["ece_if_calibrated"] = ece_of_calibrated_model(calibrated.max(axis=1))
    metrics["calibration_points"] = {"confidence": calibrated.max(axis=1).round(5).tolist(),
                                     "correct": (calibrated.argmax(axis=1) == y_true).astype(int).tolist()}
    metrics["temperature"] = predictor.temperature
    metrics["naming_thresholds"] = {"confident": predictor.confident, "unknown_ceiling": predictor.unknown_ceiling}
    metrics["roc_auc"] = plot_roc(y_true, calibrated, names, out_dir / "roc.png")

    metrics["rejection"] = {}
    for folder in unknown_dirs:
        files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))
        pictures = []
        for file in files:
            try:
                pictures.append(load_image(file))
            except ImageError:
                continue
        metrics["rejection"][str(folder)] = rejection_metrics(predictor, outputs, y_true, _run(predictor, pictures))

    metrics["robustness"] = {"clean": metrics["accuracy_with_rejection"]}
    for name, perturb in PERTURBATIONS.items():
        changed = _decisions(predictor, _run(predictor, [perturb(rgb, i) for i, rgb in enumerate(crops)],
                                             f"Robustness: {name}" if verbose else None))
        metrics["robustness"][name] = float(np.mean([d.label == names[t] for d, t in zip(changed, y_true)]))

    leaks = leakage_pairs(model_dir, card, card.config.get("duplicate_distance", 6)) if data_dir is None else []
    metrics["leakage_pairs"] = len(leaks)

    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_confusion_matrix(decision_matrix, decision_names, out_dir / "confusion_matrix.png")
    with open(out_dir / "confusion_matrix.csv", "w", newline="") as handle:  # the same numbers, for spreadsheets
        writer = csv.writer(handle)
        writer.writerow(["true \\ answered", *decision_names])
        writer.writerows([name, *row] for name, row in zip(decision_names, decision_matrix.tolist()))
    plot_reliability(softmax(outputs["logits"]), calibrated, y_true, out_dir / RELIABILITY_FILE, "evaluated images")
    if card.history:
        plot_training_curves(card.history, out_dir / CURVES_FILE, card.events.get("head_epochs"), card.events)
    with open(out_dir / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "box", "true", "predicted", "verdict", "confidence", "reason"])
        for sample, decision in zip(samples, decisions):
            box = " ".join(f"{v:.3f}" for v in sample.box) if sample.box else ""
            writer.writerow([sample.path, box, sample.label, decision.label, decision.verdict,
                             f"{decision.confidence:.4f}", decision.reason or ""])
    mistakes = sorted((i for i, (d, t) in enumerate(zip(decided, y_true)) if d != names[t]),
                      key=lambda i: -decisions[i].confidence)[:WORST_MISTAKES]
    captions = [f"true: {samples[i].label}\npredicted: {decisions[i].label} ({decisions[i].confidence:.0%})" for i in mistakes]
    plot_gallery([crops[i] for i in mistakes], captions, out_dir / "worst_mistakes.png")
    _plot_where_it_looked(predictor, [crops[i] for i in mistakes], captions, out_dir / MISTAKE_HEATMAPS_FILE)
    (out_dir / HELD_OUT_REGIONS_FILE).unlink(missing_ok=True)  # never a stale figure of another split
    if data_dir is None:
        plot_held_out_regions({split: card.samples(split, model_dir) for split in SPLIT_COLOURS},
                              out_dir / HELD_OUT_REGIONS_FILE)
    _write_markdown(out_dir, label, metrics, names, leaks, card)
    if data_dir is None:
        card.test_metrics = {**summary_of(metrics), "accuracy_with_rejection": metrics["accuracy_with_rejection"],
                                "known_rejected": metrics["known_rejected"], "ece_after": metrics["ece_after"],
                                "accuracy_interval": metrics["accuracy_interval"],
                                "ece_after_interval": metrics["ece_after_interval"],
                                "ece_if_calibrated": metrics["ece_if_calibrated"]}
        card.save(model_dir)
    if verbose:
        print(format_summary(metrics, names, label))
        print(f"  with rejection: accuracy {metrics['accuracy_with_rejection']:.1%}, known images rejected "
              f"{metrics['known_rejected']:.1%}; ECE {metrics['ece_before']:.1%} -> {metrics['ece_after']:.1%}{format_interval(metrics['ece_after_interval'])} "
              f"(T={predictor.temperature:.2f}; {format_calibrated_reference(metrics)})")
        for folder, row in metrics["rejection"].items():
            print(f"  {folder}: rejected {row['rejected']:.1%} of {row['images']}, AUROC {row['auroc']:.3f}, FPR95 {row['fpr95']:.1%}")
        print(f"  leakage: {len(leaks)} near-duplicate pair(s) across splits")
        print(f"Report written to {out_dir / REPORT_FILE}")
    return metrics


def format_calibrated_reference(metrics: dict) -> str:
    """The ECE a perfectly calibrated model would measure here, for reading the measured one."""
    mean, upper = metrics["ece_if_calibrated"]
    return f"a perfectly calibrated model would measure {mean:.0%}, up to {upper:.0%}, on {metrics['images']} images"


def _write_markdown(out_dir: Path, label: str, metrics: dict, names, leaks, card: ModelCard) -> None:
    naming = metrics["naming_thresholds"]
    lines = ["# Evaluation report", "", f"Model trained {card.created or '?'}; evaluated on {label} "
             f"({metrics['images']} images).", "",
             "## Summary", "", "| measure | value |", "|---|---|",
             f"| accuracy (best class, no rejection) | {metrics['accuracy']:.1%}{format_interval(metrics['accuracy_interval'])} |",
             f"| accuracy with rejection (what the app answers) | {metrics['accuracy_with_rejection']:.1%} |",
             f"| ... answered with a motif named from | {naming['confident']:.0%} calibrated probability, the unknown "
             f"class at most {naming['unknown_ceiling']:.0%} |",
             f"| top-3 accuracy | {metrics['top3_accuracy']:.1%} |",
             f"| known images wrongly rejected | {metrics['known_rejected']:.1%} |",
             f"| macro F1 / weighted F1 | {metrics['macro_avg']['f1-score']:.3f} / {metrics['weighted_avg']['f1-score']:.3f} |",
             f"| expected calibration error before / after temperature scaling (T={metrics['temperature']:.2f}) | "
             f"{metrics['ece_before']:.1%} / {metrics['ece_after']:.1%}{format_interval(metrics['ece_after_interval'])} |",
             f"| ECE that a perfectly calibrated model would measure on these {metrics['images']} images | "
             f"{metrics['ece_if_calibrated'][0]:.1%} (95% of draws under {metrics['ece_if_calibrated'][1]:.1%}) |",
             f"| ROC AUC micro / macro (one-vs-rest) | {metrics['roc_auc'].get('micro', float('nan')):.3f} / "
             f"{metrics['roc_auc'].get('macro', float('nan')):.3f} |", "",
             "## Per class", "", "| class | precision | recall | F1 | images | ROC AUC |", "|---|---|---|---|---|---|"]
    for name in names:
        row = metrics["per_class"][name]
        auc = metrics["roc_auc"].get("per_class", {}).get(name)
        lines.append(f"| {name} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1-score']:.2f} | "
                     f"{int(row['support'])} | {'n/a' if auc is None else f'{auc:.3f}'} |")
    for average in ("macro_avg", "weighted_avg"):
        row = metrics[average]
        lines.append(f"| *{average.replace('_', ' ')}* | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1-score']:.2f} | "
                     f"{int(row['support'])} | |")
    lines += ["", "## Figures", "", "![confusion matrix](confusion_matrix.png)", "", "![ROC curves](roc.png)", "",
              f"![reliability diagram]({RELIABILITY_FILE})", ""]
    if (out_dir / CURVES_FILE).is_file():
        lines += [f"![training curves]({CURVES_FILE})", "",
                  "Grey dotted line: fine-tuning starts; orange: learning rate reduced; red: early stopping.", ""]
    lines += ["## Rejection of pictures that are not known motifs", ""]
    if metrics["rejection"]:
        lines += ["| folder | images | rejected | AUROC | FPR at 95% true-accept |", "|---|---|---|---|---|"]
        for folder, row in metrics["rejection"].items():
            lines.append(f"| {folder} | {row['images']} | {row['rejected']:.1%} | {row['auroc']:.3f} | {row['fpr95']:.1%} |")
        lines.append(f"\nKnown test images wrongly rejected: {metrics['known_rejected']:.1%}.")
    else:
        lines.append("No `--unknown` folders were given.")
    lines += ["", "## Robustness (accuracy with rejection, same images changed)", "", "| change | accuracy |", "|---|---|"]
    lines += [f"| {name} | {value:.1%} |" for name, value in metrics["robustness"].items()]
    lines += ["", "## Worst mistakes", "", "![worst mistakes](worst_mistakes.png)", "",
              "Where the model looked for its answer to each of them (Grad-CAM; red = most evidence): on the "
              "motif, or on the background?", "", f"![where it looked]({MISTAKE_HEATMAPS_FILE})", "",
              "Every image: [predictions.csv](predictions.csv).", ""]
    if (out_dir / HELD_OUT_REGIONS_FILE).is_file():
        lines += ["## Where the held-out regions lie", "",
                  "Photos of the classes that had too few to split by photo were split into regions: the model "
                  "learnt from the rest of each photo, chose its settings on the blue region and was tested on "
                  "the red one. A red region that shows a border, a watermark or the floor rather than the motif "
                  "says little about the motif.", "", f"![held-out regions]({HELD_OUT_REGIONS_FILE})", ""]
    lines += ["## Leakage check", ""]
    if leaks:
        lines.append(f"{len(leaks)} near-duplicate pair(s) across splits:")
        lines += [f"- {a} ({sa}) ~ {b} ({sb})" for sa, a, sb, b in leaks[:50]]
    else:
        lines.append("No near-duplicate pairs across train/val/test (perceptual hash), and no crop overlaps another split's.")
    conflicts = card.label_conflicts
    if conflicts:
        lines += ["", f"{len(conflicts)} pair(s) of near-identical training images are filed under different classes "
                  "(one label of each pair is probably wrong; check them):", ""]
        lines += [f"- {a} ~ {b}" for a, b in conflicts[:50]]
    (out_dir / REPORT_FILE).write_text("\n".join(lines) + "\n")


__all__ = ["build_report", "held_out_regions", "plot_held_out_regions", "format_calibrated_reference", "rejection_metrics", "leakage_pairs", "PERTURBATIONS"]
