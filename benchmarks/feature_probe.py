"""How far frozen ImageNet MobileNetV2 features go on batik10, however the photo is framed.

Logistic regression, 5-fold cross-validation on the train+validation images of the default split
(the test split is not touched). Reproduces the probe figures in BENCHMARKS.md:

    python benchmarks/feature_probe.py
"""

import numpy as np

from _common import SHARED, seed_keras_cache


def _centre_square(rgb):
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return rgb[top : top + side, left : left + side]


def main():
    seed_keras_cache()
    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from sasirangan.config import TrainConfig
    from sasirangan.data import load_image, prepare_image, scan_folder, split_samples

    scan = scan_folder(SHARED / "datasets" / "batik10")
    splits = split_samples(scan, TrainConfig())
    samples = splits["train"] + splits["val"]
    labels = np.array([scan.class_names.index(s.label) for s in samples])
    pictures = [load_image(s.path) for s in samples]
    backbone = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights="imagenet", pooling="avg")

    def features(frame):
        batches = [np.stack([prepare_image(frame(p), 224) * 2 - 1 for p in pictures[i : i + 32]])
                   for i in range(0, len(pictures), 32)]
        return np.concatenate([backbone.predict(batch, verbose=0) for batch in batches])

    squashed = features(lambda p: p)
    centred = features(_centre_square)
    flipped = features(lambda p: p[:, ::-1])
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for name, x in [("squashed", squashed), ("centre-cropped", centred), ("both averaged", (squashed + centred) / 2),
                    ("with a flipped copy averaged", (squashed + flipped) / 2)]:
        score = cross_val_score(LogisticRegression(max_iter=3000), x, labels, cv=folds).mean()
        print(f"RESULT frozen features, {name}: {score:.1%}")


if __name__ == "__main__":
    main()
