"""Getting photos into a notebook: an example set, a zip, a Google Drive folder or the webcam.

Training reads a folder with one sub-folder per motif. A notebook user has photos in other
shapes: a zip on their laptop, a folder on Google Drive, a webcam, or no photos yet. Each way
here ends with such a folder and returns its path, so the notebook's next steps are the same
whichever way the photos came. `upload_zip`, `take_photo` and `take_photos` need Google Colab
(its file picker and its JavaScript bridge); the rest runs anywhere, and is tested here.

Example:
    >>> data_dir = download_example_set("data/example_batik")  # doctest: +SKIP
    >>> data_dir = unpack_zip("my_motifs.zip", "data/uploaded")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .config import IMAGE_EXTENSIONS
from .progress import progress, watched

# The project's public repository: the notebook's install cell, the README's Colab badge and
# pyproject's [project.urls] repeat it, and tests/test_notebook.py checks that they agree.
REPOSITORY_URL = "https://github.com/sasirangan/sasirangan"
NOTEBOOK_URL = (REPOSITORY_URL.replace("https://github.com/", "https://colab.research.google.com/github/")
                + "/blob/main/notebooks/train_your_own.ipynb")


@dataclass(frozen=True)
class ExampleSet:
    """A public photo set to try the notebook with before you have photos of your own."""

    url: str  # a zip archive of the repository
    folder: str  # inside the archive's top folder: the parent of the class folders
    source: str  # where the photos come from, to credit
    terms: str  # what the source allows


EXAMPLE_SET = ExampleSet(
    url="https://github.com/rahmsofyan/Batik-Classification-Final-Project-VisiKomputer-/archive/HEAD.zip",
    folder="batik_classification_model/dataset/training_set",
    source="https://github.com/rahmsofyan/Batik-Classification-Final-Project-VisiKomputer-",
    terms=("No licence is stated by the repository these photos come from (web photos of 10 batik motifs, "
           "collected by students). Use them to learn and to try the notebook; do not publish them or a model "
           "trained on them."),
)

_COMPLETE = ".example_set_complete"  # written last, so a half-finished download is not taken for the set


class ExampleSetUnavailable(OSError):
    """The example set could not be downloaded (offline, or the archive moved)."""


# --------------------------------------------------------------------------- Colab


def in_colab() -> bool:
    """Whether this runs in a Google Colab kernel (which imports google.colab as it starts)."""
    return "google.colab" in sys.modules


def _require_colab(what: str, instead: str) -> None:
    if not in_colab():
        raise RuntimeError(f"{what} works in Google Colab only. Here, {instead}.")


# --------------------------------------------------------------------------- zips


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The parts of a zip entry's path, or None when it would land outside the folder (zip-slip)."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
        return None
    return path.parts


def _wanted(parts: tuple[str, ...]) -> bool:
    """A picture the user meant to zip: not macOS's __MACOSX copies, not hidden files or folders."""
    return (bool(parts) and not any(part == "__MACOSX" or part.startswith(".") for part in parts)
            and PurePosixPath(parts[-1]).suffix.lower() in IMAGE_EXTENSIONS)


def _extract_images(archive: zipfile.ZipFile, dest: Path, within: tuple[str, ...] = ()) -> int:
    """Copy the pictures of `archive` (those under `within`, if given, relative to it) into `dest`.

    Returns:
        How many pictures were written.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written, unsafe = 0, []
    for info in archive.infolist():
        if info.is_dir():
            continue
        parts = _safe_parts(info.filename)
        if parts is None:
            unsafe.append(info.filename)
            continue
        if not _wanted(parts):
            continue
        if within:  # e.g. <top folder>/<within...>/<class>/<photo>
            starts = [i for i in range(len(parts)) if parts[i:i + len(within)] == within]
            if not starts or starts[0] + len(within) == len(parts) - 1:  # not in it, or beside the class folders
                continue
            parts = parts[starts[0] + len(within):]
        target = root.joinpath(*parts)
        if not target.resolve().is_relative_to(root):
            unsafe.append(info.filename)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
        written += 1
    if unsafe:
        warnings.warn(f"Skipped {len(unsafe)} zip entr{'y' if len(unsafe) == 1 else 'ies'} that would land outside "
                      f"{dest} (e.g. {unsafe[0]!r}).", stacklevel=3)
    return written


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
               for p in folder.iterdir())


def _class_root(folder: Path) -> Path | None:
    """The folder whose sub-folders hold the pictures: `folder`, or the one folder a zip wraps them in."""
    while True:
        subfolders = [d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        if any(_has_images(d) for d in subfolders):
            return folder
        if len(subfolders) != 1 or _has_images(folder):
            return None
        folder = subfolders[0]


def unpack_zip(zip_path, dest) -> Path:
    """Unpack a zip of `<motif>/<photo>` folders into `dest`, and return the folder to train on.

    Only pictures are extracted; `__MACOSX` and hidden files are left out, and entries that
    would land outside `dest` (`../x`, absolute paths: "zip-slip") are skipped with a warning.
    A zip that wraps the class folders in one top folder (`my_motifs/<motif>/<photo>`, what
    zipping a folder gives) returns that inner folder. Files already in `dest` are kept.

    Args:
        zip_path: the zip file.
        dest: folder to unpack into (created).

    Returns:
        The folder whose sub-folders are the classes.

    Raises:
        ValueError: the file is not a zip, or it holds no class folders of pictures.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"'{zip_path}' is not a zip file. Zip a folder that holds one sub-folder of photos per "
                         "motif (e.g. my_motifs/gigi_haruan/photo1.jpg) and upload that.")
    with zipfile.ZipFile(zip_path) as archive:
        count = _extract_images(archive, dest)
    root = _class_root(dest) if count else None
    if root is None:
        raise ValueError(f"'{zip_path}' holds no class folders of pictures ({count} picture(s) found). Lay it out as "
                         f"<motif>/<photo>.jpg, one folder per motif ({', '.join(IMAGE_EXTENSIONS)}).")
    return root


# --------------------------------------------------------------------------- the example set


def _download(url: str, path: Path) -> None:
    """Fetch `url` into `path`, with a progress bar where someone watches."""
    megabyte = 1_000_000
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
        size = response.headers.get("Content-Length")
        chunks = iter(lambda: response.read(megabyte), b"")
        for chunk in progress(chunks, math.ceil(int(size) / megabyte) if size else None, "Downloading", unit="MB",
                              enabled=watched()):
            out.write(chunk)


def download_example_set(dest, url: str = EXAMPLE_SET.url, folder: str = EXAMPLE_SET.folder) -> Path:
    """Download the example photos (`EXAMPLE_SET`) into `dest/<class>/`, once.

    The archive is the whole public repository; only the pictures under its training-set
    folder are kept. A `dest` that already holds the complete set is returned as it is.
    Read `EXAMPLE_SET.terms` first: the source states no licence, so the photos are for
    learning and trying the notebook only.

    Args:
        dest: folder to write the class folders into (created).
        url: zip archive to download (`file://` URLs work too).
        folder: where the class folders are inside the archive, below its top folder.

    Returns:
        `dest`.

    Raises:
        ExampleSetUnavailable: no connection, or the archive is not a zip of that layout.
    """
    dest = Path(dest)
    if (dest / _COMPLETE).is_file():
        return dest
    instead = ('Bring your own photos instead (PHOTOS = "zip", "drive", "webcam" or "folder" in the notebook; '
               "one sub-folder of photos per motif).")
    print(f"Downloading the example set from {url}")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        archive_path = Path(scratch) / "example_set.zip"
        try:
            _download(url, archive_path)
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError, timeouts are OSErrors
            raise ExampleSetUnavailable(f"Could not download the example set from {url} ({error}). "
                                        f"{instead}") from error
        if not zipfile.is_zipfile(archive_path):
            raise ExampleSetUnavailable(f"{url} did not return a zip archive. {instead}")
        with zipfile.ZipFile(archive_path) as archive:
            count = _extract_images(archive, dest, within=PurePosixPath(folder).parts)
    if not count:
        raise ExampleSetUnavailable(f"{url} holds no photos under {folder}/ (has the repository moved them?). "
                                    f"{instead}")
    (dest / _COMPLETE).write_text(url + "\n")
    classes = sorted(d.name for d in dest.iterdir() if d.is_dir() and not d.name.startswith("."))
    print(f"{count} photos of {len(classes)} motifs in {dest}: {', '.join(classes)}")
    return dest


# --------------------------------------------------------------------------- Colab's file picker


def upload_zip(dest) -> Path:
    """Ask for a zip of `<motif>/<photo>` folders with Colab's file picker; unpack it into `dest/<zip name>/`.

    Returns:
        The folder to train on (`unpack_zip`'s answer).

    Raises:
        RuntimeError: not in Colab (set DATA_DIR to a folder of photos there instead).
        ValueError: not exactly one file was chosen, or it is not a zip of class folders.
    """
    _require_colab("upload_zip", 'unzip your photos yourself and set DATA_DIR to that folder (PHOTOS = "folder")')
    from google.colab import files

    uploaded = files.upload()  # {file name: bytes}, once the user has picked the files
    if len(uploaded) != 1:
        raise ValueError(f"Upload one zip file of your photos. Received {len(uploaded)} file(s): "
                         f"{', '.join(uploaded) or 'none'}.")
    (name, content), = uploaded.items()
    with tempfile.TemporaryDirectory() as scratch:
        zip_path = Path(scratch) / Path(name).name
        zip_path.write_bytes(content)
        return unpack_zip(zip_path, Path(dest) / Path(name).stem)


# --------------------------------------------------------------------------- the webcam

# Colab's camera-capture pattern: a JavaScript function in the output frame opens the camera,
# shows it with a Capture button, and returns the frame as a JPEG data URL to Python (eval_js).
_CAPTURE_JS = """
async function capturePhoto(caption, quality) {
  const box = document.createElement('div');
  const label = document.createElement('p');
  label.textContent = caption;
  const button = document.createElement('button');
  button.textContent = 'Capture';
  const video = document.createElement('video');
  video.style.display = 'block';
  video.style.maxWidth = '100%';
  box.append(label, button, video);
  document.body.appendChild(box);

  // Prefer the rear camera on phones; laptops fall back to their only camera.
  const stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment'}});
  video.srcObject = stream;
  await video.play();
  google.colab.output.setIframeHeight(document.documentElement.scrollHeight, true);
  await new Promise((resolve) => button.onclick = resolve);

  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  stream.getVideoTracks().forEach((track) => track.stop());
  box.remove();
  return canvas.toDataURL('image/jpeg', quality);
}
"""


def save_data_url(data_url: str, path) -> Path:
    """Write a browser's `data:image/...;base64,...` picture to `path`, once it is known to decode.

    Raises:
        ValueError: not a base64 data URL of a picture PIL can read.
    """
    from PIL import Image

    header, _, payload = data_url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64") or not payload:
        raise ValueError(f"Expected a picture as a data URL ('data:image/jpeg;base64,...'). "
                         f"Received: {data_url[:40]!r}.")
    try:
        content = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
    except (ValueError, OSError, SyntaxError) as error:  # binascii.Error is a ValueError
        raise ValueError(f"The data URL does not hold a readable picture ({error}).") from error
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def take_photo(path, caption: str = "", quality: float = 0.9) -> Path:
    """Show the webcam in the notebook and save the frame taken when Capture is pressed (Colab only).

    Raises:
        RuntimeError: not in Colab, or the browser gave no camera.
    """
    _require_colab("take_photo", "take the photos with a camera and set DATA_DIR to their folder")
    from google.colab.output import eval_js
    from IPython.display import Javascript, display

    display(Javascript(_CAPTURE_JS))
    try:
        data_url = eval_js(f"capturePhoto({json.dumps(caption)}, {float(quality)})")
    except Exception as error:  # the browser's own error (no camera, permission refused) comes back as text
        raise RuntimeError(f"The camera did not start ({error}). Allow this page to use the camera, "
                           "or bring photos another way.") from error
    return save_data_url(data_url, path)


def _free_path(folder: Path, label: str) -> Path:
    n = 1
    while (folder / f"{label}_{n}.jpg").exists():
        n += 1
    return folder / f"{label}_{n}.jpg"


def take_photos(label: str, dest, count: int = 5) -> list[Path]:
    """Take `count` webcam photos of one motif into `dest/<label>/<label>_<n>.jpg` (Colab only).

    Existing photos are kept: numbering continues after them. Vary the distance, angle and
    light between photos, and take each class at least 3 times (train, validation and test
    need one each).

    Raises:
        ValueError: the label cannot be a folder name.
        RuntimeError: not in Colab, or the browser gave no camera.
    """
    if not label or label.startswith(".") or any(c in label for c in "/\\:"):
        raise ValueError(f"A label names a folder: no '/', '\\' or ':', and no leading '.'. Received: label={label!r}.")
    folder = Path(dest) / label
    return [take_photo(_free_path(folder, label), f"{label}: photo {i + 1} of {count}. Press Capture.")
            for i in range(count)]
