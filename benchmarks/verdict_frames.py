"""Would the verdict name more webcam frames if its cloth score and temperature had seen webcam frames?

A model folder's cloth score (`verdict.ClothScorer`) and temperature are fitted on clean views of
its train and validation pictures. Here both are refitted after the fact, with `--frames`
webcam-like frames of each train and validation picture added (`sasirangan.webcam`, training
regions only, held-out regions covered): the cloth score on train views + frames (threshold on
validation views + frames, as `calibrate` sets it; or raised until it keeps 97.5% of the
validation non-cloth views and frames out), the temperature on validation views + frames.
Each combination then decides the frames and photos `honest_answers.py` answers (same seeds) at
each confidence threshold. A model refit on train + validation has seen the validation pictures,
so its validation figures here are optimistic; the choice sets are the validation-region frames
and the other-motif photos the model was given, the rest is for reading.

`--inputs` picks what the refitted cloth scores read (the mid-level features, the embedding, the
scene: the backbone's last layer, in models that keep it); repeat it to compare.

    python benchmarks/verdict_frames.py [--model models/sasirangan_default] [--frames 2]
        [--inputs features --inputs embedding,scene]   (about 6 min)
"""

import argparse
import copy
import time
from pathlib import Path

import honest_answers as ha
import numpy as np
from _common import SHARED, seed_keras_cache


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ha.ROOT / "models" / "sasirangan_default"))
    parser.add_argument("--frames", type=int, default=2, help="webcam-like frames of each train and val picture")
    parser.add_argument("--inputs", action="append", type=lambda text: tuple(text.split(",")),
                        help="serving outputs the refitted cloth scores read, comma-separated (repeat to compare; "
                             "default: what the model's own cloth score reads), e.g. --inputs features "
                             "--inputs embedding,scene")
    args = parser.parse_args()
    seed_keras_cache()

    from sasirangan.calibrate import TemperatureScaler
    from sasirangan.data import load_image
    from sasirangan.predict import Predictor
    from sasirangan.verdict import LEGACY_CLOTH_INPUTS, ClothScorer, cloth_labels
    from sasirangan.views import WHOLE
    from sasirangan.webcam import webcam_view

    model_dir = Path(args.model)
    FRAMES = args.frames
    p = Predictor(model_dir)
    card = p.card
    t0 = time.time()
    index = {n: i for i, n in enumerate(p.class_names)}
    cloth_dirs = card.config.get("cloth_dirs", [])
    rng = np.random.default_rng(5)
    data = {}
    for split in ("train", "val"):
        samples = card.samples(split, model_dir)
        is_cloth = cloth_labels(samples, card.unknown_class, cloth_dirs)
        views, frames, frame_cloth, frame_y = [], [], [], []
        cache = {}
        for s, c in zip(samples, is_cloth):
            rgb = cache.get(s.path)
            if rgb is None:
                rgb = load_image(s.path)
                if s.label != card.unknown_class:
                    cache[s.path] = rgb
            views.append(p.outputs(s.view(rgb)))
            for _ in range(FRAMES):
                frames.append(p.outputs(webcam_view(s.covered(rgb), s.box, rng), WHOLE))
                frame_cloth.append(c)
                frame_y.append(index[s.label])
        data[split] = dict(views=views, frames=frames, cloth=is_cloth, frame_cloth=np.array(frame_cloth),
                           y=np.array([index[s.label] for s in samples]), frame_y=np.array(frame_y))
        print(f"  {split}: views and {FRAMES} webcam-like frames of {len(samples)} pictures ({time.time() - t0:.0f} s)",
              flush=True)

    kept = {"test": [], "val": []}
    ha.camera_answers(p, card.samples("test", model_dir), 20, 0, kept=kept["test"])
    ha.camera_answers(p, card.samples("val", model_dir), 20, 1, kept=kept["val"])
    datasets = SHARED / "datasets"
    photos = {}
    for name, folder in (("other", datasets / "sasirangan" / "other_motifs"), ("not_textile", datasets / "not_textile"),
                         ("batik", datasets / "batik10")):
        for part, paths in ha.source_sets(card, model_dir, folder).items():
            photos[(name, part)] = [(p.outputs(rgb), rgb) for rgb in map(load_image, paths)]
    print(f"  the frames and photos honest_answers.py answers ({time.time() - t0:.0f} s)", flush=True)

    val_not_cloth = ~np.r_[data["val"]["cloth"], data["val"]["frame_cloth"]]
    scorers = {}
    for inputs in args.inputs or [p.cloth_scorer.inputs if p.cloth_scorer else LEGACY_CLOTH_INPUTS]:
        def rows(split, part, inputs=inputs):
            return np.concatenate([stack(data[split][part], name) for name in inputs], axis=1)

        tag = "+".join(inputs)
        scorers[f"cloth ({tag}): views"] = ClothScorer(inputs=inputs).fit(
            rows("train", "views"), data["train"]["cloth"], rows("val", "views"), data["val"]["cloth"])
        both = ClothScorer(inputs=inputs).fit(np.r_[rows("train", "views"), rows("train", "frames")],
                                             np.r_[data["train"]["cloth"], data["train"]["frame_cloth"]],
                                             np.r_[rows("val", "views"), rows("val", "frames")],
                                             np.r_[data["val"]["cloth"], data["val"]["frame_cloth"]])
        scorers[f"cloth ({tag}): views+frames"] = both
        scorers[f"cloth ({tag}): views+frames, threshold on views"] = ClothScorer(inputs=inputs).fit(
            np.r_[rows("train", "views"), rows("train", "frames")],
            np.r_[data["train"]["cloth"], data["train"]["frame_cloth"]], rows("val", "views"), data["val"]["cloth"])
        # the same scorer, its threshold raised until it keeps out 97.5% of the validation non-cloth (views
        # and frames): the rule set on the not-cloth side, where the held-out target is
        strict = copy.deepcopy(both)
        val_rows = np.r_[rows("val", "views"), rows("val", "frames")]
        strict.threshold_ = max(strict.threshold_, float(np.quantile(strict.score(val_rows[val_not_cloth]), 0.975)))
        scorers[f"cloth ({tag}): views+frames, threshold keeps 97.5% of val non-cloth out"] = strict
        for name, scorer in list(scorers.items())[-4:]:
            kept_out = np.mean(scorer.score(val_rows[val_not_cloth]) < scorer.threshold_)
            print(f"  {name}: validation non-cloth views and frames kept out {kept_out:.1%} ({val_not_cloth.sum()})")
    val_logits = np.r_[stack(data["val"]["views"], "logits"), stack(data["val"]["frames"], "logits")]
    val_y = np.r_[data["val"]["y"], data["val"]["frame_y"]]
    temps = {"T card": p.temperature, "T views+frames": TemperatureScaler().fit(val_logits, val_y).temperature_}
    print("Cloth thresholds: " + ", ".join(f"{name} {scorer.threshold_:.2f}" for name, scorer in scorers.items()))
    for sname, scorer in scorers.items():
        for tname, temperature in temps.items():
            p.cloth_scorer, p.temperature = scorer, temperature
            print(f"\n{sname}, {tname} = {temperature:.2f}   (frames named right; photos named; not_textile not a motif)")
            for threshold in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
                p.confident = threshold
                named = {split: sum(a.verdict == "motif" and a.label == label for a, label in
                                    [(p.decide(o, picture=f), label) for o, f, label in rows]) for split, rows in kept.items()}
                other = {key: sum(p.decide(o, picture=rgb).verdict == "motif" for o, rgb in rows)
                         for key, rows in photos.items() if key[0] != "not_textile"}
                nt = sum(p.decide(o, picture=rgb).verdict == "not_motif" for o, rgb in photos[("not_textile", "held out")])
                print(f"  {threshold:.0%}: val frames {named['val']}/320, other given {other[('other', 'trained or calibrated on')]}"
                      f"/15 | test frames {named['test']}/320, other held {other[('other', 'held out')]}/19, batik held "
                      f"{other[('batik', 'held out')]}/41, not_textile not_motif {nt}/45", flush=True)


def stack(outputs, key: str) -> np.ndarray:
    return np.stack([o[key] for o in outputs])


if __name__ == "__main__":
    main()
