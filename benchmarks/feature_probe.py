"""How far frozen ImageNet MobileNetV2 features go on batik10, however the photo is framed.

Logistic regression, 5-fold cross-validation on the train+validation images of the default split
(the test split is not touched). Reproduces the probe figures in BENCHMARKS.md (about 10 min):

    python benchmarks/feature_probe.py
"""

import cv2
import numpy as np

from _common import SHARED, seed_keras_cache


def _centre_square(rgb):
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return rgb[top : top + side, left : left + side]


def close_up_tiles(rgb, side=224, grid=3):
    """A 3x3 grid of side-px tiles from the photo scaled so its short side is 2*side: texture up close."""
    height, width = rgb.shape[:2]
    scale = 2 * side / min(height, width)
    big = cv2.resize(rgb, (max(2 * side, round(width * scale)), max(2 * side, round(height * scale))),
                     interpolation=cv2.INTER_AREA)
    rows = np.linspace(0, big.shape[0] - side, grid).astype(int)
    cols = np.linspace(0, big.shape[1] - side, grid).astype(int)
    return [big[r : r + side, c : c + side] for r in rows for c in cols]


def main():
    seed_keras_cache()
    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sasirangan.config import TrainConfig
    from sasirangan.data import load_image, prepare_image, scan_folder, split_samples

    scan = scan_folder(SHARED / "datasets" / "batik10")
    splits = split_samples(scan, TrainConfig())
    samples = splits["train"] + splits["val"]
    labels = np.array([scan.class_names.index(s.label) for s in samples])
    pictures = [load_image(s.path) for s in samples]
    backbone = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights="imagenet")
    # pooled output of the last block and of the mid-level block the open-set score uses
    pooled = keras.Model(backbone.input, [keras.layers.GlobalAveragePooling2D()(backbone.output),
                                          keras.layers.GlobalAveragePooling2D()(backbone.get_layer("block_13_expand_relu").output)])

    def features(views_of):
        """(last, mid) features per picture, averaged over the views `views_of` makes of it."""
        last, mid = [], []
        for picture in pictures:
            views = np.stack([prepare_image(view, 224) * 2 - 1 for view in views_of(picture)])
            outputs = pooled.predict(views, verbose=0, batch_size=len(views))
            last.append(outputs[0].mean(0))
            mid.append(outputs[1].mean(0))
        return np.array(last), np.array(mid)

    squashed, squashed_mid = features(lambda p: [p])
    centred, _ = features(lambda p: [_centre_square(p)])
    flipped, _ = features(lambda p: [p[:, ::-1]])
    tiles, _ = features(close_up_tiles)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for name, x, scale in [("squashed", squashed, False), ("centre-cropped", centred, False),
                           ("both averaged", (squashed + centred) / 2, False),
                           ("with a flipped copy averaged", (squashed + flipped) / 2, False),
                           ("squashed, last + mid-level block, standardised", np.hstack([squashed, squashed_mid]), True),
                           ("whole photo + 3x3 close-up tiles averaged, standardised", (squashed + tiles) / 2, True)]:
        classifier = LogisticRegression(max_iter=5000, C=0.1 if scale else 1.0)
        if scale:
            classifier = make_pipeline(StandardScaler(), classifier)
        score = cross_val_score(classifier, x, labels, cv=folds).mean()
        print(f"RESULT frozen features, {name}: {score:.1%}", flush=True)


if __name__ == "__main__":
    main()
