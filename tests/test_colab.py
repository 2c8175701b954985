"""Getting photos into the notebook (sasirangan.colab), on small generated pictures: no network, no Colab."""

import base64
import io
import zipfile

import pytest
from conftest import pattern_image

from sasirangan.colab import (
    EXAMPLE_SET,
    ExampleSetUnavailable,
    download_example_set,
    in_colab,
    save_data_url,
    take_photos,
    unpack_zip,
    upload_zip,
)
from sasirangan.data import scan_folder


def png_bytes(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pattern_image("checks", seed, 24).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path, entries: dict) -> str:
    """A zip of {name in the archive: bytes}."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return path


def motif_entries(prefix: str = "", classes=("gigi_haruan", "kembang_kacang"), per_class: int = 3) -> dict:
    return {f"{prefix}{label}/{label}_{i}.png": png_bytes(10 * c + i)
            for c, label in enumerate(classes) for i in range(per_class)}


@pytest.mark.parametrize("prefix", ["", "my_motifs/"])
def test_unpack_zip_returns_the_folder_of_class_folders(tmp_path, prefix):
    archive = make_zip(tmp_path / "photos.zip", motif_entries(prefix))
    root = unpack_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out" / prefix
    assert scan_folder(root).counts == {"gigi_haruan": 3, "kembang_kacang": 3}


def test_unpack_zip_skips_macosx_hidden_and_other_files(tmp_path):
    entries = {**motif_entries("my_motifs/"),
               "__MACOSX/my_motifs/gigi_haruan/._gigi_haruan_0.png": b"resource fork",
               "my_motifs/.DS_Store": b"finder",
               "my_motifs/gigi_haruan/.hidden.png": png_bytes(99),
               "my_motifs/notes.txt": b"not a photo"}
    root = unpack_zip(make_zip(tmp_path / "photos.zip", entries), tmp_path / "out")
    assert root.name == "my_motifs"
    assert not (tmp_path / "out" / "__MACOSX").exists()
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert written == sorted(name.removeprefix("my_motifs/") for name in motif_entries())


def test_unpack_zip_ignores_entries_that_escape_the_folder(tmp_path):
    entries = {**motif_entries(), "../escaped.png": png_bytes(1), "/tmp/absolute.png": png_bytes(2),
               "gigi_haruan/../../escaped_too.png": png_bytes(3)}
    archive = make_zip(tmp_path / "photos.zip", entries)
    with pytest.warns(UserWarning, match="Skipped 3 zip entries that would land outside"):
        root = unpack_zip(archive, tmp_path / "out" / "inner")
    assert not (tmp_path / "out" / "escaped.png").exists() and not (tmp_path / "escaped_too.png").exists()
    assert scan_folder(root).counts == {"gigi_haruan": 3, "kembang_kacang": 3}


def test_unpack_zip_rejects_a_file_that_is_not_a_zip(tmp_path):
    not_zip = tmp_path / "photos.zip"
    not_zip.write_bytes(png_bytes())
    with pytest.raises(ValueError, match="is not a zip file"):
        unpack_zip(not_zip, tmp_path / "out")


@pytest.mark.parametrize("entries", [{"notes.txt": b"no photos"}, {"a.png": png_bytes(0), "b.png": png_bytes(1)}],
                         ids=["no-pictures", "pictures-without-class-folders"])
def test_unpack_zip_rejects_a_zip_without_class_folders_of_pictures(tmp_path, entries):
    with pytest.raises(ValueError, match="holds no class folders of pictures"):
        unpack_zip(make_zip(tmp_path / "photos.zip", entries), tmp_path / "out")


def repository_archive(path, classes=("BatikKawung", "BatikMegamendung", "Batikmotifceplok")) -> str:
    """A zip laid out as GitHub's archive of the example repository, with pictures outside the set too."""
    top = "Batik-Classification-Final-Project-VisiKomputer--main/"
    entries = {f"{top}README.md": b"# readme",
               f"{top}batik_classification_model/dataset/test_set/BatikKawung/test_1.jpg": png_bytes(50),
               f"{top}{EXAMPLE_SET.folder}/BatikKawung/Thumbs.db": b"windows",
               **motif_entries(f"{top}{EXAMPLE_SET.folder}/", classes)}
    return make_zip(path, entries)


def test_download_example_set_keeps_only_the_training_set(tmp_path):
    archive = repository_archive(tmp_path / "repo.zip")
    dest = download_example_set(tmp_path / "example", url=archive.as_uri())
    assert dest == tmp_path / "example"
    assert scan_folder(dest).counts == {"BatikKawung": 3, "BatikMegamendung": 3, "Batikmotifceplok": 3}
    assert not list(dest.rglob("test_1.jpg")) and not list(dest.rglob("Thumbs.db"))


def test_download_example_set_skips_a_complete_download(tmp_path):
    archive = repository_archive(tmp_path / "repo.zip")
    download_example_set(tmp_path / "example", url=archive.as_uri())
    archive.unlink()  # a second download would fail
    assert download_example_set(tmp_path / "example", url=archive.as_uri()) == tmp_path / "example"


def test_download_example_set_offline_says_what_to_do(tmp_path):
    url = "http://127.0.0.1:9/x.zip"  # the discard port: nothing listens, the connection is refused
    with pytest.raises(ExampleSetUnavailable, match=r"Could not download the example set from http://127\.0\.0\.1:9/"
                                                    r"x\.zip .*Bring your own photos instead"):
        download_example_set(tmp_path / "example", url=url)
    assert isinstance(ExampleSetUnavailable("x"), OSError)


def test_download_example_set_rejects_an_archive_without_the_set(tmp_path):
    archive = make_zip(tmp_path / "repo.zip", motif_entries("elsewhere/"))
    with pytest.raises(ExampleSetUnavailable, match="holds no photos under"):
        download_example_set(tmp_path / "example", url=archive.as_uri())


def test_example_set_says_it_has_no_licence():
    assert "No licence is stated" in EXAMPLE_SET.terms and EXAMPLE_SET.url.startswith(EXAMPLE_SET.source)


def test_save_data_url_writes_a_readable_picture(tmp_path):
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    path = save_data_url(data_url, tmp_path / "motif" / "motif_1.jpg")
    assert path.read_bytes() == png_bytes()


@pytest.mark.parametrize("data_url", ["not a data url", "data:image/jpeg;base64,", "data:image/jpeg;base64,!!!!",
                                      "data:image/jpeg;base64," + base64.b64encode(b"no picture").decode(),
                                      "data:text/plain;base64," + base64.b64encode(b"text").decode()])
def test_save_data_url_rejects_what_is_not_a_picture(tmp_path, data_url):
    with pytest.raises(ValueError, match="data URL"):
        save_data_url(data_url, tmp_path / "photo.jpg")
    assert not (tmp_path / "photo.jpg").exists()


def test_in_colab_is_false_here():
    assert in_colab() is False


def test_upload_zip_outside_colab_says_to_use_a_folder(tmp_path):
    with pytest.raises(RuntimeError, match="Google Colab only.*set DATA_DIR to that folder"):
        upload_zip(tmp_path)


def test_take_photos_outside_colab_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="Google Colab only"):
        take_photos("gigi_haruan", tmp_path, count=1)
    with pytest.raises(ValueError, match="names a folder"):
        take_photos("../escape", tmp_path)
