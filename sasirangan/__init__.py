"""sasirangan: recognise Sasirangan textile motifs from photos, with an Unknown answer."""

import os

# TensorFlow's C++ start-up chatter hides the messages people need; keep warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
