"""The motif catalogue on both backends: a folder (SQLite + files) and a real PostgreSQL server."""

import csv
import io
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from PIL import Image
from sqlalchemy import create_engine, func, select, text

from sasirangan import catalogue as catalogue_module
from sasirangan.catalogue import (DATABASE_FILE, MIGRATIONS, PHOTOS_DIR, PROVENANCE_COLUMNS, PROVENANCE_FILE,
                                  TEMP_PREFIX, Base, CaptureRow, Catalogue, CatalogueError, FolderStore,
                                  PhotoDataRow, PhotoRow, slugify)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Where a catalogue lives: a new folder, or a fresh database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "catalogue"
    return request.getfixturevalue("postgresql_url")


@pytest.fixture
def catalogue(location):
    with Catalogue.open(location) as opened:
        yield opened


def picture(seed: int, size: int = 64) -> np.ndarray:
    """A small random RGB picture; different seeds give different photos."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def encoded(seed: int, fmt: str = "PNG", size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture(seed, size)).save(buffer, fmt)
    return buffer.getvalue()


def rows(catalogue, model) -> int:
    with catalogue.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model))


def stored_files(catalogue) -> list:
    """Every file under a folder catalogue's photos/ (temporary ones included); none for a database."""
    if not isinstance(catalogue.store, FolderStore) or not catalogue.store.photos.exists():
        return []
    return sorted(p for p in catalogue.store.photos.rglob("*") if p.is_file())


def assert_nothing_stored(catalogue):
    assert rows(catalogue, PhotoRow) == 0
    assert rows(catalogue, PhotoDataRow) == 0
    assert rows(catalogue, CaptureRow) == 0
    assert stored_files(catalogue) == []


# --------------------------------------------------------------------------- opening


def test_catalogue_open_seeds_motifs(catalogue):
    motifs = {motif.slug: motif for motif in catalogue.motifs()}
    assert len(motifs) == 16 and "unknown" not in motifs
    kembang = catalogue.motif("Kembang Kacang")
    assert kembang.slug == "kembang_kacang" and kembang.name == "Kembang Kacang"
    assert kembang.literal["en"] and kembang.meaning["id"] and kembang.sources[0].startswith("https://")
    assert catalogue.motif("no_such_motif") is None
    assert catalogue.counts()["gigi_haruan"] == {"suggested": 0, "confirmed": 0, "rejected": 0}


def test_catalogue_open_twice_does_not_seed_again(location):
    with Catalogue.open(location) as first:
        first.update_motif("gigi_haruan", by="curator", name="Gigi Haruan Baru")
    with Catalogue.open(location) as second:
        assert len(second.motifs()) == 16
        assert second.motif("gigi_haruan").name == "Gigi Haruan Baru"


def test_catalogue_schema_matches_models(catalogue):
    """The migrations build exactly the tables the ORM models describe (no drift)."""
    with catalogue.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


@pytest.mark.parametrize("scheme", ["postgres://", "postgresql+psycopg://"])
def test_catalogue_open_accepts_postgresql_url_spellings(postgresql_url, scheme):
    with Catalogue.open(postgresql_url.replace("postgresql://", scheme)) as opened:
        assert len(opened.motifs()) == 16
        assert opened.engine.url.drivername == "postgresql+psycopg"


def test_catalogue_open_rejects_other_urls(tmp_path):
    with pytest.raises(CatalogueError, match="folder or a postgresql:// URL"):
        Catalogue.open("sqlite:///" + str(tmp_path / "x.db"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(CatalogueError, match="is a file"):
        Catalogue.open(tmp_path / "file")
    with pytest.raises(CatalogueError, match="cannot open the catalogue at postgresql") as error:
        Catalogue.open("postgresql://postgres:secret@127.0.0.1:1/nothing")  # nothing listens on port 1
    assert "secret" not in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name, slug", [("Kembang Kacang", "kembang_kacang"), ("kembang_kacang", "kembang_kacang"),
                                        ("  Gigi-Haruan!! ", "gigi_haruan"), ("Kambang Sásaki", "kambang_sasaki"),
                                        ("../../etc", "etc"), ("..", "")])
def test_slugify(name, slug):
    assert slugify(name) == slug


# --------------------------------------------------------------------------- photos in


def test_catalogue_curation_flow(catalogue):
    first = catalogue.add_photo(picture(1), "Kembang Kacang", source="upload", by="ani",
                                model_answer={"model": "default", "label": "kembang_kacang", "confidence": 0.93})
    second = catalogue.add_photo(picture(2), "gigi_haruan", source="webcam")
    third = catalogue.add_photo(encoded(3), "Gigi Haruan", source="upload", note="pasar")
    assert (first.motif, first.status, first.submitted_by) == ("kembang_kacang", "suggested", "ani")
    assert (first.model_name, first.model_confidence) == ("default", 0.93)
    assert first.model_verdict is None and third.note == "pasar"

    confirmed = catalogue.confirm(first.id, by="curator")
    assert (confirmed.status, confirmed.reviewed_by) == ("confirmed", "curator") and confirmed.reviewed_at
    catalogue.reject(second.id, by="curator")
    assert catalogue.counts()["kembang_kacang"] == {"suggested": 0, "confirmed": 1, "rejected": 0}
    assert catalogue.counts()["gigi_haruan"] == {"suggested": 1, "confirmed": 0, "rejected": 1}
    assert catalogue.confirmed() == [("kembang_kacang", first.sha256)]
    assert [c.id for c in catalogue.captures()] == [third.id, second.id, first.id]  # newest first
    assert [c.id for c in catalogue.captures(status="rejected")] == [second.id]
    assert [c.id for c in catalogue.captures(motif="Gigi Haruan", limit=1)] == [third.id]

    moved = catalogue.relabel(third.id, "Motif Baru", by="curator")
    assert (moved.id, moved.motif, moved.status) == (third.id, "motif_baru", "suggested")
    assert catalogue.motif("motif_baru").name == "Motif Baru"

    # The photo of `first` also suggested for gigi_haruan, then relabelled onto kembang_kacang: merged.
    again = catalogue.add_photo(picture(1), "gigi_haruan", source="upload")
    merged = catalogue.relabel(again.id, "kembang_kacang", by="curator")
    assert (merged.id, merged.status) == (first.id, "confirmed")
    assert rows(catalogue, CaptureRow) == 3 and rows(catalogue, PhotoRow) == 3

    catalogue.delete(second.id, by="curator")
    assert rows(catalogue, PhotoRow) == 2
    with pytest.raises(CatalogueError, match="no photo"):
        catalogue.photo_bytes(second.sha256)
    assert len(stored_files(catalogue)) == (2 if isinstance(catalogue.store, FolderStore) else 0)
    assert catalogue.counts()["gigi_haruan"] == {"suggested": 0, "confirmed": 0, "rejected": 0}


def test_catalogue_same_photo_is_stored_once(catalogue):
    first = catalogue.add_photo(picture(7), "kembang_kacang", source="upload")
    again = catalogue.add_photo(picture(7), "Kembang Kacang", source="webcam", by="someone else")
    assert again.id == first.id and again.submitted_by == "anonymous"
    other_motif = catalogue.add_photo(picture(7), "gigi_haruan", source="upload")
    assert other_motif.id != first.id and other_motif.sha256 == first.sha256
    assert rows(catalogue, PhotoRow) == 1 and rows(catalogue, CaptureRow) == 2
    if isinstance(catalogue.store, FolderStore):
        assert [p.name for p in stored_files(catalogue)] == [f"{first.sha256}.jpg"]
    # Deleting one capture keeps the photo the other still uses.
    catalogue.delete(first.id, by="curator")
    assert catalogue.load_photo(first.sha256).shape == (64, 64, 3)


def test_catalogue_confirmed_add_promotes_a_suggestion(catalogue):
    suggested = catalogue.add_photo(picture(8), "kembang_kacang", source="upload")
    confirmed = catalogue.add_photo(picture(8), "kembang_kacang", source="import", status="confirmed", by="import")
    assert confirmed.id == suggested.id and (confirmed.status, confirmed.reviewed_by) == ("confirmed", "import")


def test_catalogue_applies_exif_orientation_and_strips_metadata(catalogue):
    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:16] = (250, 30, 30)  # red top half, blue bottom half: a turn shows
    pixels[16:] = (30, 30, 250)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to display
    exif[0x010F] = "SpyCam"  # Make
    exif.get_ifd(0x8825).update({1: "S", 2: (3.0, 19.0, 44.0)})  # GPS latitude
    upload = io.BytesIO()
    Image.fromarray(pixels).save(upload, "JPEG", exif=exif, comment=b"secret comment")
    upload = upload.getvalue()
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(0x8825), "the test upload must carry GPS"

    capture = catalogue.add_photo(upload, "kembang_kacang", source="upload")
    stored = catalogue.photo_bytes(capture.sha256)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (32, 48)  # upright: width and height swapped
        assert not image.getexif() and not set(image.info) & {"exif", "comment", "icc_profile", "xmp"}
    for secret in (b"Exif", b"SpyCam", b"secret comment"):
        assert secret not in stored
    upright = np.rot90(pixels, k=-1)
    assert np.abs(catalogue.load_photo(capture.sha256).astype(int) - upright).mean() < 10


def test_catalogue_png_stays_png_and_transparency_becomes_white(catalogue):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[:8, :, 3] = 255  # top half opaque green, bottom half transparent
    upload = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(upload, "PNG")
    capture = catalogue.add_photo(upload.getvalue(), "kembang_kacang", source="upload")
    assert Image.open(io.BytesIO(catalogue.photo_bytes(capture.sha256))).format == "PNG"
    stored = catalogue.load_photo(capture.sha256)
    assert stored[0, 0].tolist() == [0, 200, 0] and stored[-1, -1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("kind", ["garbage bytes", "empty bytes", "truncated jpeg", "text file", "empty file",
                                  "missing file"])
def test_catalogue_refuses_unreadable_input(catalogue, tmp_path, kind):
    inputs = {"garbage bytes": b"\x00\x01 not an image", "empty bytes": b"",
              "truncated jpeg": encoded(4, "JPEG", size=256)[:400]}
    (tmp_path / "notes.txt").write_text("motif notes")
    (tmp_path / "empty.jpg").write_bytes(b"")
    inputs.update({"text file": tmp_path / "notes.txt", "empty file": tmp_path / "empty.jpg",
                   "missing file": str(tmp_path / "nope.jpg")})
    with pytest.raises(CatalogueError) as error:
        catalogue.add_photo(inputs[kind], "kembang_kacang", source="upload")
    assert "\n" not in str(error.value)
    assert_nothing_stored(catalogue)


def test_catalogue_refuses_uploads_over_the_limits(catalogue, tmp_path):
    upload = encoded(5, "JPEG")
    with pytest.raises(CatalogueError, match=f"{len(upload):,} bytes is over the limit of 100 bytes"):
        catalogue.add_photo(upload, "kembang_kacang", source="upload", max_bytes=100)
    (tmp_path / "big.jpg").write_bytes(upload)
    with pytest.raises(CatalogueError, match="over the limit of 100 bytes"):
        catalogue.add_photo(tmp_path / "big.jpg", "kembang_kacang", source="upload", max_bytes=100)
    with pytest.raises(CatalogueError, match="64x64 = 4,096 pixels is over the limit of 1,000 pixels"):
        catalogue.add_photo(upload, "kembang_kacang", source="upload", max_pixels=1000)
    with pytest.raises(CatalogueError, match="over the limit of 1,000 pixels"):
        catalogue.add_photo(picture(5), "kembang_kacang", source="webcam", max_pixels=1000)
    assert_nothing_stored(catalogue)
    assert catalogue.add_photo(upload, "kembang_kacang", source="upload", max_bytes=len(upload), max_pixels=4096)


@pytest.mark.parametrize("motif, message", [("", "needs a name"), ("x" * 61, "at most 60 characters"),
                                            ("../..", "letters or digits"), ("bad\x00name", "control characters")])
def test_catalogue_refuses_motif_names(catalogue, motif, message):
    with pytest.raises(CatalogueError, match=message):
        catalogue.add_photo(picture(6), motif, source="upload")
    assert_nothing_stored(catalogue)


def test_catalogue_refuses_bad_arguments(catalogue):
    with pytest.raises(CatalogueError, match="source must be one of webcam, upload, import. Received: source='fax'"):
        catalogue.add_photo(picture(6), "kembang_kacang", source="fax")
    with pytest.raises(CatalogueError, match="status must be one of"):
        catalogue.add_photo(picture(6), "kembang_kacang", source="upload", status="maybe")
    with pytest.raises(CatalogueError, match="model_answer keys are"):
        catalogue.add_photo(picture(6), "kembang_kacang", source="upload", model_answer={"confidance": 0.5})
    with pytest.raises(CatalogueError, match="RGB uint8 array"):
        catalogue.add_photo(picture(6).astype(np.float32), "kembang_kacang", source="upload")
    with pytest.raises(CatalogueError, match="no capture 999"):
        catalogue.confirm(999, by="curator")
    with pytest.raises(CatalogueError, match="no capture"):
        catalogue.delete(999, by="curator")
    with pytest.raises(CatalogueError, match="status must be one of"):
        catalogue.captures(status="maybe")
    with pytest.raises(CatalogueError, match="no motif 'nope'"):
        catalogue.update_motif("nope", by="curator", name="Nope")
    with pytest.raises(CatalogueError, match="editable fields are name, literal, meaning, sources"):
        catalogue.update_motif("gigi_haruan", by="curator", slug="other")
    with pytest.raises(CatalogueError, match="http"):
        catalogue.update_motif("gigi_haruan", by="curator", sources=["file:///etc/passwd"])
    assert_nothing_stored(catalogue)


def test_catalogue_failed_commit_leaves_no_file(catalogue, monkeypatch):
    kept = catalogue.add_photo(picture(10), "kembang_kacang", source="upload")
    staged = []

    def fail_in_transaction(session):
        staged.extend(stored_files(catalogue))  # the new file is already written at this point
        raise RuntimeError("injected failure before commit")

    monkeypatch.setattr(catalogue_module, "_bump_revision", fail_in_transaction)
    with pytest.raises(RuntimeError, match="injected"):
        catalogue.add_photo(picture(11), "kembang_kacang", source="upload", status="confirmed")
    with pytest.raises(RuntimeError, match="injected"):  # a photo a row already uses keeps its file
        catalogue.add_photo(picture(10), "gigi_haruan", source="upload", status="confirmed")
    if isinstance(catalogue.store, FolderStore):
        assert len(staged) == 3  # first the kept file and the new one, then the kept one alone
    assert rows(catalogue, PhotoRow) == 1 and rows(catalogue, CaptureRow) == 1
    assert len(stored_files(catalogue)) == (1 if isinstance(catalogue.store, FolderStore) else 0)
    assert catalogue.load_photo(kept.sha256).shape == (64, 64, 3)


def test_catalogue_sweeps_old_orphan_files_only(tmp_path):
    folder = tmp_path / "catalogue"
    with Catalogue.open(folder) as catalogue:
        used = catalogue.add_photo(picture(12), "kembang_kacang", source="upload")
    photos = folder / PHOTOS_DIR
    two_hours_ago = time.time() - 2 * 3600
    old_orphan, fresh_orphan = photos / "ab" / ("ab" + "0" * 62 + ".jpg"), photos / "cd" / ("cd" + "1" * 62 + ".png")
    old_temp, not_ours = photos / f"{TEMP_PREFIX}dead", photos / "README"
    for path in (old_orphan, fresh_orphan, old_temp, not_ours):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    used_file = photos / used.sha256[:2] / f"{used.sha256}.jpg"
    for path in (old_orphan, old_temp, used_file, not_ours):
        os.utime(path, (two_hours_ago, two_hours_ago))

    with Catalogue.open(folder) as catalogue:
        assert not old_orphan.exists() and not old_temp.exists()
        assert fresh_orphan.exists() and used_file.exists() and not_ours.exists()
        assert catalogue.load_photo(used.sha256).shape == (64, 64, 3)


def _in_threads(work, count: int = 20) -> list:
    start = threading.Barrier(count)

    def run(i):
        start.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_catalogue_concurrent_captures_of_distinct_photos(catalogue):
    before = catalogue.revision()
    captures = _in_threads(lambda i: catalogue.add_photo(picture(100 + i), "Motif Baru", source="webcam",
                                                         status="confirmed", by=f"user{i}"))
    assert len({c.sha256 for c in captures}) == 20 and len({c.id for c in captures}) == 20
    assert rows(catalogue, PhotoRow) == 20 and rows(catalogue, CaptureRow) == 20
    assert catalogue.counts()["motif_baru"]["confirmed"] == 20
    assert catalogue.revision() == before + 20
    assert len(stored_files(catalogue)) == (20 if isinstance(catalogue.store, FolderStore) else 0)


def test_catalogue_concurrent_captures_of_the_same_photo(catalogue):
    before = catalogue.revision()
    captures = _in_threads(lambda i: catalogue.add_photo(picture(200), "kembang_kacang", source="webcam",
                                                         status="confirmed", by=f"user{i}"))
    assert len({c.id for c in captures}) == 1
    assert rows(catalogue, PhotoRow) == 1 and rows(catalogue, CaptureRow) == 1
    assert catalogue.revision() == before + 1
    assert len(stored_files(catalogue)) == (1 if isinstance(catalogue.store, FolderStore) else 0)
    assert catalogue.load_photo(captures[0].sha256).shape == (64, 64, 3)


# --------------------------------------------------------------------------- reading


def test_catalogue_revision_follows_confirmed_photos_and_motif_texts(location):
    with Catalogue.open(location) as catalogue, Catalogue.open(location) as other_process:
        start = catalogue.revision()
        capture = catalogue.add_photo(picture(20), "kembang_kacang", source="upload")
        assert other_process.revision() == start  # a suggestion changes no reference
        catalogue.confirm(capture.id, by="curator")
        assert other_process.revision() == start + 1
        catalogue.relabel(capture.id, "gigi_haruan", by="curator")
        catalogue.update_motif("gigi_haruan", by="curator", meaning={"en": "new text"})
        assert other_process.revision() == start + 3
        assert other_process.motif("gigi_haruan").meaning["en"] == "new text"
        catalogue.reject(capture.id, by="curator")
        catalogue.delete(capture.id, by="curator")
        assert other_process.revision() == start + 4


def test_catalogue_update_motif(catalogue):
    updated = catalogue.update_motif("Ular Lidi", by="curator", name="Ular  Lidi Baru",
                                     literal={"id": "ular lidi", "en": "grass snake"},
                                     sources=["https://example.org/ular-lidi"])
    assert (updated.slug, updated.name, updated.literal["en"]) == ("ular_lidi", "Ular Lidi Baru", "grass snake")
    assert catalogue.motif("ular_lidi").sources == ["https://example.org/ular-lidi"]


def test_catalogue_embeddings_round_trip(catalogue):
    first = catalogue.add_photo(picture(30), "kembang_kacang", source="upload")
    second = catalogue.add_photo(picture(31), "kembang_kacang", source="upload")
    vector = np.arange(8, dtype=np.float64) / 7
    catalogue.put_embedding("mobilenet_v2:224", first.sha256, vector)
    catalogue.put_embedding("mobilenet_v2:224", first.sha256, vector)  # idempotent
    catalogue.put_embedding("other", second.sha256, [1.0, 2.0])
    found = catalogue.get_embeddings("mobilenet_v2:224", [first.sha256, second.sha256, "f" * 64])
    assert list(found) == [first.sha256]
    assert found[first.sha256].dtype == np.float32 and np.allclose(found[first.sha256], vector)
    catalogue.put_embedding("mobilenet_v2:224", first.sha256, vector * 2)  # replaced
    assert np.allclose(catalogue.get_embeddings("mobilenet_v2:224", [first.sha256])[first.sha256], vector * 2)
    with pytest.raises(CatalogueError, match="no photo"):
        catalogue.put_embedding("other", "e" * 64, vector)
    catalogue.delete(first.id, by="curator")  # the photo goes, and its cached vectors with it
    assert catalogue.get_embeddings("mobilenet_v2:224", [first.sha256]) == {}


def test_catalogue_motif_name_never_becomes_a_path(catalogue, tmp_path):
    capture = catalogue.add_photo(picture(40), "../../etc", source="upload", status="confirmed")
    assert capture.motif == "etc" and catalogue.motif("etc").name == "../../etc"
    with pytest.raises(CatalogueError, match="64 lowercase hex"):
        catalogue.photo_bytes("../../" + DATABASE_FILE)
    out = tmp_path / "deep" / "export"
    catalogue.export(out)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                     if p.is_file() and "catalogue" not in p.parts)
    assert written == [f"deep/export/etc/{capture.sha256}.jpg", f"deep/export/{PROVENANCE_FILE}"]
    for path in stored_files(catalogue):
        assert path.name == f"{capture.sha256}.jpg"


# --------------------------------------------------------------------------- moving data


def test_catalogue_import_folder(catalogue, tmp_path):
    data = tmp_path / "data"
    for folder in ("kembang_kacang", "Motif Baru", "kosong"):
        (data / folder).mkdir(parents=True)
    (data / "kembang_kacang" / "a.png").write_bytes(encoded(50))
    (data / "kembang_kacang" / "b.jpg").write_bytes(encoded(51, "JPEG"))
    (data / "kembang_kacang" / "a_copy.png").write_bytes(encoded(50))  # the same photo again
    (data / "kembang_kacang" / "broken.jpg").write_bytes(encoded(52, "JPEG", size=256)[:300])
    (data / "Motif Baru" / "c.png").write_bytes(encoded(53))
    seen = []

    summary = catalogue.import_folder(data, progress=lambda done, total, path: seen.append((done, total)))
    assert summary.added == {"kembang_kacang": 2, "motif_baru": 1}
    assert summary.duplicates == 1 and summary.empty == ["kosong"]
    assert [path for path, _ in summary.skipped] == [str(data / "kembang_kacang" / "broken.jpg")]
    assert seen[-1] == (5, 5) and len(seen) == 5
    assert catalogue.counts()["kembang_kacang"] == {"suggested": 0, "confirmed": 2, "rejected": 0}
    assert {c.source for c in catalogue.captures()} == {"import"} and rows(catalogue, PhotoRow) == 3

    again = catalogue.import_folder(data)
    assert again.added == {} and again.duplicates == 4 and rows(catalogue, CaptureRow) == 3
    with pytest.raises(CatalogueError, match="folder not found"):
        catalogue.import_folder(tmp_path / "nothing_here")
    with pytest.raises(CatalogueError, match="one sub-folder per motif"):
        catalogue.import_folder(data / "kosong")


def test_catalogue_export(catalogue, tmp_path):
    kept = [catalogue.add_photo(picture(60 + i), "kembang_kacang", source="upload", status="confirmed",
                                by="curator", note=f"n{i}") for i in range(2)]
    other = catalogue.add_photo(encoded(62), "Gigi Haruan", source="webcam", by="ani")
    catalogue.confirm(other.id, by="curator")
    catalogue.add_photo(picture(63), "kembang_kacang", source="upload")  # suggested: not exported
    rejected = catalogue.add_photo(picture(64), "kembang_kacang", source="upload")
    catalogue.reject(rejected.id, by="curator")

    out = tmp_path / "export"
    summary = catalogue.export(out)
    assert summary.written == {"gigi_haruan": 1, "kembang_kacang": 2} and summary.removed == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted([f"kembang_kacang/{c.sha256}.jpg" for c in kept] + [f"gigi_haruan/{other.sha256}.png"])
    assert files == sorted(expected + [PROVENANCE_FILE])
    assert (out / expected[0]).read_bytes() == catalogue.photo_bytes(expected[0].split("/")[1].split(".")[0])
    with open(out / PROVENANCE_FILE, newline="", encoding="utf-8") as file:
        table = list(csv.DictReader(file))
    assert tuple(table[0]) == PROVENANCE_COLUMNS and sorted(r["path"] for r in table) == expected
    row = next(r for r in table if r["sha256"] == other.sha256)
    assert (row["motif"], row["source"], row["submitted_by"]) == ("gigi_haruan", "webcam", "ani")
    assert row["reviewed_by"] == "curator" and row["reviewed_at"] and row["note"] == ""

    catalogue.reject(kept[0].id, by="curator")
    again = catalogue.export(out)  # over an earlier export: brought up to date
    assert again.removed == 1 and not (out / f"kembang_kacang/{kept[0].sha256}.jpg").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.docx").write_text("precious")
    with pytest.raises(CatalogueError, match="not empty and is not an earlier export"):
        catalogue.export(tmp_path / "other")
    assert (tmp_path / "other" / "thesis.docx").read_text() == "precious"


def test_catalogue_backup(catalogue, tmp_path):
    confirmed = catalogue.add_photo(picture(70), "kembang_kacang", source="upload", status="confirmed", by="curator")
    catalogue.add_photo(encoded(71), "Motif Baru", source="webcam", model_answer={"verdict": "not sure"})
    rejected = catalogue.add_photo(picture(72), "gigi_haruan", source="upload")
    catalogue.reject(rejected.id, by="curator")
    catalogue.update_motif("gigi_haruan", by="curator", name="Gigi Haruan (edited)")
    catalogue.put_embedding("key", confirmed.sha256, np.ones(4))

    dest = catalogue.backup(tmp_path / "backup")
    assert (dest / DATABASE_FILE).is_file()
    with Catalogue.open(dest) as copy:
        assert copy.counts() == catalogue.counts() and copy.motifs() == catalogue.motifs()
        assert copy.captures() == catalogue.captures() and copy.revision() == catalogue.revision()
        for capture in catalogue.captures():
            assert copy.photo_bytes(capture.sha256) == catalogue.photo_bytes(capture.sha256)
        assert np.allclose(copy.get_embeddings("key", [confirmed.sha256])[confirmed.sha256], 1)
    with pytest.raises(CatalogueError, match="not empty"):
        catalogue.backup(dest)


def test_catalogue_made_by_an_older_version_opens(location):
    """A catalogue at schema 0001 (no embeddings, no revision counter) is upgraded with its rows."""
    if isinstance(location, str):
        engine = create_engine(location.replace("postgresql://", "postgresql+psycopg://"))
    else:
        location.mkdir()
        engine = create_engine(f"sqlite:///{location / DATABASE_FILE}")
    photo = catalogue_module.encode_photo(picture(80))
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text(
            "INSERT INTO motifs (id, slug, name, literal_id, literal_en, meaning_id, meaning_en, sources, created_at,"
            " updated_at, updated_by) VALUES (1, 'lama', 'Lama', '', '', '', '', '[]', :now, :now, 'v0')"),
            {"now": "2026-01-02 03:04:05"})
        connection.execute(text("INSERT INTO photos (id, sha256, width, height, format, size_bytes, created_at)"
                                " VALUES (1, :sha, 64, 64, 'jpeg', :size, :now)"),
                           {"sha": photo.sha256, "size": len(photo.data), "now": "2026-01-02 03:04:05"})
        connection.execute(text("INSERT INTO captures (id, photo_id, motif_id, status, source, submitted_by,"
                                " submitted_at, note) VALUES (1, 1, 1, 'confirmed', 'upload', 'ani', :now, '')"),
                           {"now": "2026-01-02 03:04:05"})
        if isinstance(location, str):
            connection.execute(text("INSERT INTO photo_data (photo_id, data) VALUES (1, :data)"), {"data": photo.data})
        tables = set(connection.dialect.get_table_names(connection))
    engine.dispose()
    assert "embeddings" not in tables and "revision" not in tables
    if not isinstance(location, str):
        path = location / PHOTOS_DIR / photo.sha256[:2] / f"{photo.sha256}.jpg"
        path.parent.mkdir(parents=True)
        path.write_bytes(photo.data)
        os.utime(path, (time.time() - 7200,) * 2)  # old enough to be swept, were it an orphan

    with Catalogue.open(location) as catalogue:
        assert catalogue.confirmed() == [("lama", photo.sha256)]
        assert [m.slug for m in catalogue.motifs()] == ["lama"]
        assert catalogue.captures()[0].submitted_at.isoformat() == "2026-01-02T03:04:05+00:00"
        assert catalogue.photo_bytes(photo.sha256) == photo.data
        assert catalogue.revision() >= 1
        catalogue.put_embedding("key", photo.sha256, [0.5])
        with catalogue.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0002"
