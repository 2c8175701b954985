"""How well do the picture-quality checks (sasirangan/quality.py) catch unusable pictures, and how
often do they flag good ones?

From the shared cloth photos (the 16 Sasirangan photos, the 34 other_motifs and a seeded sample of
batik10) it builds, per photo, degraded copies of its 640x480 frame: darkened (x0.05-0.15 plus
noise), overexposed (half washed out, 255 - (255 - x) * 0.05-0.15; half blown out, exposure raised
until 60-95% of the picture is white), heavily blurred (Gaussian sigma
6-12 px, or shrunk to 40 px and back) and small (the photo at 15-30% of the frame side on a plain
or gently graded background), and mild webcam-like copies that must pass (1.5x zoom crop,
Gaussian sigma 0-2 px, brightness x0.6-1.3, a little noise). It prints, per check, the detection
rate on its own degraded copies and false alarms on the originals, on the webcam-like copies and,
for the exposure/focus checks, on ../shared/datasets/not_textile (report only: not cloth); then
which clean pictures were flagged, and how often the blur and dark checks fire as blur grows
(Gaussian sigma 2-8 px) and light fades (x0.6 down to x0.15).

The photos are split per source into two seeded halves. `--sweep` chooses each threshold on the
tuning half only (most detection with at most --max-false-alarm on originals + webcam copies,
the most lenient of ties); the figures for the module's THRESHOLDS are printed for both halves, and
the held-out half is the one to quote.

    python benchmarks/quality_checks.py --sweep
"""

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np

from sasirangan import quality
from sasirangan.config import IMAGE_EXTENSIONS
from sasirangan.data import load_image

ROOT = Path(__file__).resolve().parents[1]
FRAME = (640, 480)
DEGRADED = {"dark": "too_dark", "bright": "too_bright", "blurry": "too_blurry", "small": "too_small"}
SWEEP = {"dark_brightest": np.arange(20, 81, 5.0), "bright_darkest": np.arange(150, 246, 5.0),
         "bright_blown_share": np.arange(0.2, 0.91, 0.05),
         "blur_sharpness": np.arange(0.15, 0.351, 0.01), "small_textured_share": np.arange(0.1, 0.61, 0.05)}
# The lenient end of each threshold (min: it flags below the value; max: above it).
LENIENT = {"dark_brightest": min, "bright_darkest": max, "bright_blown_share": max, "blur_sharpness": min,
           "small_textured_share": min}
CHECK_OF = {"dark_brightest": "dark", "bright_darkest": "bright", "bright_blown_share": "bright",
            "blur_sharpness": "blurry", "small_textured_share": "small"}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials (sound near 0% and 100%)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(flags) -> str:
    k, n = int(np.sum(flags)), len(flags)
    low, high = wilson(k, n)
    return f"{k:>3}/{n:<3} {k / max(n, 1):>6.1%} [{low:4.0%}-{high:4.0%}]"


def images(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]


def frame(rgb: np.ndarray) -> np.ndarray:
    """The photo as a 640x480 camera frame (plain resize, as a webcam view fills its frame)."""
    return cv2.resize(rgb, FRAME, interpolation=cv2.INTER_AREA if rgb.shape[1] > FRAME[0] else cv2.INTER_LINEAR)


def noisy(pixels: np.ndarray, rng, low: float = 1, high: float = 3) -> np.ndarray:
    """Sensor noise, then back to uint8."""
    pixels = pixels.astype(np.float32) + rng.normal(0, rng.uniform(low, high), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def webcam(rgb, rng):
    """Mild webcam-like view that must still pass: 1.5x zoom crop, sigma 0-2 blur, x0.6-1.3 light."""
    f = frame(rgb)
    w, h = round(FRAME[0] / 1.5), round(FRAME[1] / 1.5)
    x, y = rng.integers(0, FRAME[0] - w + 1), rng.integers(0, FRAME[1] - h + 1)
    f = cv2.resize(f[y:y + h, x:x + w], FRAME, interpolation=cv2.INTER_LINEAR)
    sigma = rng.uniform(0, 2)
    if sigma > 0.1:
        f = cv2.GaussianBlur(f, (0, 0), sigma)
    return noisy(f * rng.uniform(0.6, 1.3), rng)


def dark(rgb, rng):
    return noisy(frame(rgb) * rng.uniform(0.05, 0.15), rng, 1, 4)


def bright(rgb, rng):
    """Half washed out (the mirror of `dark`: 255 - (255 - x) * 0.05-0.15), half blown out: exposure
    raised in linear light until 60-95% of the picture reaches white (where the luminance clips,
    a camera renders white)."""
    f = frame(rgb).astype(np.float32)
    if rng.random() < 0.5:
        return noisy(255 - (255 - f) * rng.uniform(0.05, 0.15), rng)
    linear = (f / 255) ** 2.2
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    gain = 1 / max(float(np.quantile(luminance, 1 - rng.uniform(0.6, 0.95))), 1e-4)
    out = np.clip(linear * gain, 0, 1)
    out[luminance * gain >= 1] = 1
    return noisy(255 * out ** (1 / 2.2), rng)


def blurry(rgb, rng):
    f = frame(rgb)
    if rng.random() < 0.5:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(6, 12))
    else:
        tiny = cv2.resize(f, (40, 30), interpolation=cv2.INTER_AREA)
        f = cv2.resize(tiny, FRAME, interpolation=cv2.INTER_LINEAR)
    return noisy(f, rng)


def small(rgb, rng):
    """The photo at 15-30% of the frame side on a plain or gently graded 640x480 background."""
    side = rng.uniform(0.15, 0.30)
    scale = min(side * FRAME[0] / rgb.shape[1], side * FRAME[1] / rgb.shape[0])
    patch = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    back = np.ones((FRAME[1], FRAME[0], 3), np.float32) * rng.uniform(30, 230, 3)
    if rng.random() < 0.5:  # light falling off across a wall or table
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[-1:1:FRAME[1] * 1j, -1:1:FRAME[0] * 1j]
        back += (np.cos(angle) * xx + np.sin(angle) * yy)[..., None] * rng.uniform(10, 40)
    y = rng.integers(0, FRAME[1] - patch.shape[0] + 1)
    x = rng.integers(0, FRAME[0] - patch.shape[1] + 1)
    back[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return noisy(back, rng)


CURVE_SIGMAS = (2, 3, 4, 5, 6, 8)  # Gaussian blur, px at 640x480
CURVE_GAINS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.6)  # brightness factor
MAKERS = {"webcam": webcam, "dark": dark, "bright": bright, "blurry": blurry, "small": small}


def measure(rgb) -> dict:
    return {**quality.exposure_focus_measures(rgb), "coverage": quality.coverage_measure(rgb)}


def code(m: dict, limits: dict, check: str) -> str | None:
    """What the exposure/focus check or the coverage check answers on measures m."""
    problem = (quality.judge_coverage(m["coverage"], limits) if check == "coverage"
               else quality.judge_exposure_and_focus(m, limits))
    return problem.code if problem else None


def collect(shared: Path, seed: int, n_batik: int, copies: int):
    """Measures of every original and copy, tagged with its half ("tune" or "held-out")."""
    data = shared / "datasets"
    rng = np.random.default_rng(seed)
    batik = images(data / "batik10")
    sources = {"sasirangan": images(data / "sasirangan" / "photos"),
               "other_motifs": images(data / "sasirangan" / "other_motifs"),
               "batik10": [batik[i] for i in sorted(rng.choice(len(batik), min(n_batik, len(batik)), replace=False))]}
    rows = []  # (half, kind, measures, photo name)
    for number, (name, paths) in enumerate(sources.items()):
        order = rng.permutation(len(paths))
        for rank, i in enumerate(order):
            half = "tune" if rank < len(paths) // 2 else "held-out"
            rgb = load_image(paths[i])
            photo_rng = np.random.default_rng([seed, number, int(i)])
            rows.append((half, "original", measure(rgb), paths[i].name))
            curve_rng = np.random.default_rng([seed, number, int(i), 1])
            for sigma in CURVE_SIGMAS:  # how the blur check responds to growing blur
                blurred = noisy(cv2.GaussianBlur(frame(rgb), (0, 0), sigma), curve_rng)
                rows.append((half, f"sigma {sigma}", measure(blurred), paths[i].name))
            for gain in CURVE_GAINS:  # and the dark check to less and less light
                rows.append((half, f"gain {gain}", measure(noisy(frame(rgb) * gain, curve_rng, 1, 4)), paths[i].name))
            for kind, make in MAKERS.items():
                rows += [(half, kind, measure(make(rgb, photo_rng)), paths[i].name) for _ in range(copies)]
        print(f"{name}: {len(paths)} photos, {len(paths) // 2} tune / {len(paths) - len(paths) // 2} held-out", flush=True)
    not_textile = [(p.name.split("_")[0], measure(load_image(p))) for p in images(data / "not_textile")]
    return rows, not_textile  # not_textile: (group, measures), group "stamp", "texture" or "photo"


def select(rows, kind):
    return [r[2] for r in rows if r[1] == kind]


def sweep(rows, limits: dict, max_false_alarm: float) -> dict:
    """Each decision threshold chosen on the tuning half, in turn (the others at their current
    values): the most detection with at most max_false_alarm on originals + webcam copies; of
    values that tie, the most lenient (false alarms cost more than misses: the app should answer
    on anything usable)."""
    tune = [r for r in rows if r[0] == "tune"]
    clean = select(tune, "original") + select(tune, "webcam")
    chosen = dict(limits)
    for key, values in SWEEP.items():
        kind = CHECK_OF[key]
        target, check = DEGRADED[kind], ("coverage" if kind == "small" else "exposure")
        print(f"\n{key} (tuning half; detection of '{target}' on {kind} copies, false alarms on "
              f"{len(clean)} originals + webcam copies)")
        results = []
        for value in values:
            trial = {**chosen, key: float(value)}
            detected = np.mean([code(m, trial, check) == target for m in select(tune, kind)])
            false = np.mean([code(m, trial, check) == target for m in clean])
            results.append((float(value), detected, false))
            print(f"  {value:6.3f}  detected {detected:6.1%}  false alarms {false:6.1%}")
        allowed = [r for r in results if r[2] <= max_false_alarm] or [min(results, key=lambda r: r[2])]
        best = max(r[1] for r in allowed)
        chosen[key] = round(LENIENT[key](r[0] for r in allowed if r[1] == best), 3)
        print(f"  -> {key} = {chosen[key]}")
    return chosen


def report(rows, not_textile, limits: dict) -> None:
    """Detection and false alarms of the checks at `limits`, for each half."""
    print(f"\n{'check':<11} {'half':<9} {'detected on own copies':<28} {'false: originals':<28} "
          f"{'false: webcam copies':<28} false: not_textile (report only)")
    for kind, target in DEGRADED.items():
        check = "coverage" if kind == "small" else "exposure"
        for half in ("tune", "held-out"):
            part = [r for r in rows if r[0] == half]
            hit = [code(m, limits, check) == target for m in select(part, kind)]
            cells = [rate([code(m, limits, check) == target for m in select(part, k)]) for k in ("original", "webcam")]
            other = rate([code(m, limits, check) == target for _, m in not_textile]) if check == "exposure" else "-"
            print(f"{target:<11} {half:<9} {rate(hit):<28} {cells[0]:<28} {cells[1]:<28} {other}")
    print("\nany exposure/focus problem (the app's first check), and what each degraded copy was called:")
    for half in ("tune", "held-out"):
        part = [r for r in rows if r[0] == half]
        clean = [r for r in part if r[1] in ("original", "webcam")]
        called = [(code(r[2], limits, "exposure"), r[1], r[3]) for r in clean]
        print(f"  {half:<9} false alarms on originals + webcam copies: {rate([c is not None for c, _, _ in called])}"
              + "".join(f"\n    {c}: {kind} of {name}" for c, kind, name in called if c))
        for kind in ("dark", "bright", "blurry", "small"):
            check = "coverage" if kind == "small" else "exposure"
            answers = [code(m, limits, check) or "passed" for m in select(part, kind)]
            names, counts = np.unique(answers, return_counts=True)
            print(f"    {kind:<7} copies -> " + ", ".join(f"{n} {c}" for n, c in zip(names, counts)))
    held_out = [r for r in rows if r[0] == "held-out"]
    for label, kind, values, target in (("Gaussian sigma (px at 640x480)", "sigma", CURVE_SIGMAS, "too_blurry"),
                                        ("brightness factor", "gain", CURVE_GAINS, "too_dark")):
        print(f"  held-out frames called {target}, by {label}:")
        for value in values:
            called = [code(m, limits, "exposure") == target for m in select(held_out, f"{kind} {value}")]
            print(f"    {value:<5} {rate(called)}")
    flagged = [code(m, limits, "exposure") is not None for _, m in not_textile]
    print(f"  not_textile flagged by exposure/focus: {rate(flagged)} (report only: not cloth)")
    for group in sorted({g for g, _ in not_textile}):
        answers = [code(m, limits, "exposure") or "passed" for g, m in not_textile if g == group]
        names, counts = np.unique(answers, return_counts=True)
        print(f"    {group:<8} -> " + ", ".join(f"{n} {c}" for n, c in zip(names, counts)))


def timing(shared: Path) -> None:
    """Median time of each check on 640x480 frames (a webcam frame's size)."""
    photos = images(shared / "datasets" / "sasirangan" / "photos")
    frames = [frame(load_image(p)) for p in photos]
    for check in (quality.check_exposure_and_focus, quality.check_coverage):
        times = []
        for _ in range(20):
            for f in frames:
                start = time.perf_counter()
                check(f)
                times.append(time.perf_counter() - start)
        print(f"{check.__name__}: median {1000 * np.median(times):.2f} ms, 95th percentile "
              f"{1000 * np.percentile(times, 95):.2f} ms per 640x480 frame ({len(times)} calls)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared folder (../shared)")
    parser.add_argument("--seed", type=int, default=0, help="fixes the batik sample, the halves and the copies")
    parser.add_argument("--batik", type=int, default=100, help="batik10 photos sampled")
    parser.add_argument("--copies", type=int, default=2, help="copies of each kind per photo")
    parser.add_argument("--sweep", action="store_true", help="choose the thresholds on the tuning half")
    parser.add_argument("--max-false-alarm", type=float, default=0.01, help="allowed on the tuning half's clean pictures")
    args = parser.parse_args()

    rows, not_textile = collect(args.shared, args.seed, args.batik, args.copies)
    if args.sweep:
        chosen = sweep(rows, quality.THRESHOLDS, args.max_false_alarm)
        changed = {k: v for k, v in chosen.items() if v != quality.THRESHOLDS[k]}
        print(f"\nchosen on the tuning half: { {k: chosen[k] for k in SWEEP} }"
              + (f"\nTHRESHOLDS in sasirangan/quality.py differ: {changed}; copy them there" if changed else ""))
        if changed:
            print("\nfigures at the chosen thresholds:")
            report(rows, not_textile, chosen)
    print(f"\nfigures at sasirangan/quality.py THRESHOLDS: { {k: quality.THRESHOLDS[k] for k in SWEEP} }")
    report(rows, not_textile, quality.THRESHOLDS)
    print()
    timing(args.shared)


if __name__ == "__main__":
    main()
