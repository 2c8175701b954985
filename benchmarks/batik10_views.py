"""Two checks on a trained batik10 model folder (default runs/batik10, from train_batik10.py).

1. Close-up tiles at prediction time: validation accuracy of the whole photo alone, of 3x3
   close-up tiles alone (photo scaled to 448 px on its short side), and of both averaged.
2. Crops the perceptual hash cannot see: test/validation photos whose ImageNet MobileNetV2
   features are nearly those of a training photo (cosine >= 0.92), listed to check by eye.

    python benchmarks/batik10_views.py [--model runs/batik10]
"""

import argparse
from pathlib import Path

import numpy as np

from _common import seed_keras_cache
from feature_probe import close_up_tiles

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "runs" / "batik10"))
    args = parser.parse_args()
    seed_keras_cache()
    import keras

    from sasirangan.data import load_image, prepare_image
    from sasirangan.model import load_model_folder

    model, class_names, card = load_model_folder(args.model)
    split = {name: card.samples(name, args.model) for name in card.split}

    whole, tiles, both = [], [], []
    for sample in split["val"]:
        picture = load_image(sample.path)
        views = np.stack([prepare_image(picture, 224)] + [prepare_image(t, 224) for t in close_up_tiles(picture)])
        probabilities = model.predict(views, verbose=0, batch_size=len(views))
        truth = class_names.index(sample.label)
        whole.append(probabilities[0].argmax() == truth)
        tiles.append(probabilities[1:].mean(0).argmax() == truth)
        both.append(probabilities.mean(0).argmax() == truth)
    print(f"RESULT validation accuracy ({len(whole)} photos): whole photo {np.mean(whole):.1%}, "
          f"close-up tiles {np.mean(tiles):.1%}, both averaged {np.mean(both):.1%}")

    backbone = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights="imagenet", pooling="avg")

    def features(samples):
        pictures = np.stack([prepare_image(load_image(s.path), 224) * 2 - 1 for s in samples])
        vectors = backbone.predict(pictures, verbose=0, batch_size=32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    train = features(split["train"])
    for name in ("test", "val"):
        similarity = features(split[name]) @ train.T
        for i, j in zip(*np.nonzero(similarity >= 0.92)):
            print(f"look-alike {name}/train {similarity[i, j]:.3f}: {split[name][i].path} ~ {split['train'][j].path}")
        print(f"RESULT {name}: {int((similarity.max(axis=1) >= 0.92).sum())} of {len(split[name])} photos have a "
              f"training photo with ImageNet-feature cosine >= 0.92")


if __name__ == "__main__":
    main()
