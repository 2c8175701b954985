#!/usr/bin/env bash
# Reproduces the bundled model models/sasirangan_default with the project's own CLI.
# Needs ../shared beside the checkout (photos, negatives, and ImageNet weights for offline machines).
#
#   bash models/train_default.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}

# Offline machines cannot download ImageNet weights: seed the Keras cache from ../shared.
mkdir -p "${KERAS_HOME:-$HOME/.keras}/models"
cp -n "$SHARED"/keras/models/*.h5 "${KERAS_HOME:-$HOME/.keras}/models/" 2>/dev/null || true

NOTES="Trained on ONE photo per motif (16 Sasirangan motifs, web photos from the SasiranganQ app \
repository), cut into regions: 7 of 9 regions of each photo for training, one for validation, one for \
testing, so test accuracy measures recognising unseen parts of the same cloth, not new cloth. The \
unknown class is 859 pictures that are not Sasirangan: object stamps, texture tiles and sample photos \
(not_textile) and 10 Javanese batik motifs (batik10). Training turns the colours at random \
(--hue 1.0) so that it leans on the motif's shape more than on the colours of the one cloth it saw, \
but it cannot be expected to recognise other scales, fabrics or drawings of a motif than the one \
photo it saw, motifs it has never seen (they should come back unknown, but may be named as a \
similar motif), or to tell Sasirangan from other tie-dye it was not shown. Treat its answers as a \
suggestion to check with a craftsperson."

# 16 motifs, one photo each: cut every photo into a 3x3 grid of regions (7 train, 1 val, 1 test)
# and sample 60 crops per motif inside them; random hue turns stand in for other colourways.
# Everything that is not Sasirangan (object stamps, textures, photos, and Javanese batik, the
# hardest negative) becomes the "unknown" class.
sasirangan train "$SHARED/datasets/sasirangan/photos" \
    --out models/sasirangan_default \
    --unknown-dir "$SHARED/datasets/not_textile" \
    --unknown-dir "$SHARED/datasets/batik10" \
    --samples-per-class 60 --region-grid 3 --hue 1.0 --seed 42 --quiet \
    --notes "$NOTES" "$@"
