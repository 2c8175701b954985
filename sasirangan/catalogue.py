"""The motif catalogue: photos of motifs that grow from the app, curated, then used as references.

Users suggest photos ("this is motif X"), curators confirm or reject them, and confirmed photos
become nearest-neighbour references and training data (`export`). Why it is built this way:

- **Photos are content-addressed.** Every picture is decoded, turned upright (EXIF orientation),
  flattened to RGB and re-encoded with no metadata at all, so no GPS position or camera details
  leave a phone through us. It is named by the sha256 of those stored bytes: the same picture
  captured twice is stored once, and no file name ever comes from a user.
- **One capture is one transaction.** In a folder catalogue the file is written first (under a
  temporary name, then renamed) and the rows are committed after; if the commit fails, the file is
  removed unless a row already uses it, and files a crash left behind are swept by a later `open`
  once they are older than a grace period. In a PostgreSQL catalogue the bytes live in the database
  (`photo_data`), so a shared deployment (e.g. Supabase) needs no shared disk.
- **The schema is versioned by Alembic migrations** shipped in the package (`sasirangan/migrations`);
  `Catalogue.open` upgrades a catalogue made by an older version in place.
- **A one-row `revision` counter** is incremented in the same transaction as every change to the
  confirmed photos or the motif texts, so a serving process notices another process's edits with
  one small query.

Example:

```python
with Catalogue.open("catalogue/") as catalogue:  # or "postgresql://user:pass@host/db"
    capture = catalogue.add_photo(np.zeros((64, 64, 3), np.uint8), "Kembang Kacang", source="upload")
    catalogue.confirm(capture.id, by="curator")
    catalogue.export("data/from_catalogue")
```
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import random
import re
import shutil
import threading
import time
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from PIL import Image, UnidentifiedImageError
from sqlalchemy import (JSON, BigInteger, CheckConstraint, DateTime, Engine, Float, ForeignKey, Integer,
                        LargeBinary, MetaData, String, Text, TypeDecorator, UniqueConstraint, create_engine,
                        delete, event, func, insert, select, text, update)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, contains_eager, mapped_column, relationship

from .config import IMAGE_EXTENSIONS
from .data import ImageError, load_image

log = logging.getLogger(__name__)

DATABASE_FILE = "catalogue.db"  # the SQLite database of a folder catalogue
PHOTOS_DIR = "photos"  # photo files of a folder catalogue: photos/<sha[:2]>/<sha256>.<ext>
PROVENANCE_FILE = "provenance.csv"  # written by `export` beside the motif folders
TEMP_PREFIX = ".incoming-"  # files being written; renamed to their hash name when complete
MIGRATIONS = "sasirangan:migrations"  # Alembic script_location, as a package resource
ORPHAN_GRACE_SECONDS = 3600  # photo files no row uses are swept once they are this old
JPEG_QUALITY = 95  # stored photos are re-encoded at this quality (PNG uploads stay PNG)
MAX_NAME_LENGTH = 60  # longest motif name accepted (and longest slug)
STATUSES = ("suggested", "confirmed", "rejected")
SOURCES = ("webcam", "upload", "import")
FILE_EXTENSIONS = {"jpeg": "jpg", "png": "png"}  # stored format -> file extension
MODEL_ANSWER_KEYS = ("model", "label", "verdict", "confidence")
MOTIF_FIELDS = ("name", "literal", "meaning", "sources")  # what `update_motif` may change
PROVENANCE_COLUMNS = ("path", "motif", "sha256", "source", "submitted_by", "submitted_at",
                      "reviewed_by", "reviewed_at", "note")
WRITE_ATTEMPTS = 8  # a write that lost a race (unique row, deadlock) is retried this often
SQLITE_BUSY_SECONDS = 30  # how long a SQLite writer waits for another one to finish
POOL_SIZE, POOL_OVERFLOW = 10, 20  # database connections kept / added under load (~20 threads)
BATCH_ROWS = 500  # rows per query when copying tables or looking up many photos
MIGRATION_LOCK = 7_271_011  # PostgreSQL advisory lock key: one process migrates at a time

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PHOTO_FILE = re.compile(r"([0-9a-f]{64})\.(jpg|png)")
_SLUG = re.compile(r"[a-z0-9_]{1,60}")


def is_catalogue(location) -> bool:
    """Whether a command-line argument names a catalogue (a PostgreSQL URL, or a folder holding
    the SQLite database) rather than a folder of class sub-folders."""
    text_location = str(location)
    if text_location.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return True
    return (Path(location) / DATABASE_FILE).is_file()


class CatalogueError(ValueError):
    """A request the catalogue cannot carry out; the message says why and what was received."""


def slugify(name: str) -> str:
    """The stable id of a motif, safe as a folder name: "Kembang Kacang" -> "kembang_kacang"."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower())[:MAX_NAME_LENGTH].strip("_")


# --------------------------------------------------------------------------- what callers get


@dataclass(frozen=True)
class Motif:
    slug: str
    name: str
    literal: dict  # {"id": Indonesian, "en": English}: what the Banjar name says
    meaning: dict  # {"id": ..., "en": ...}: what the motif stands for
    sources: list  # URLs of the pages the texts come from


@dataclass(frozen=True)
class Capture:
    """One claim "this photo shows this motif", with who made it, who reviewed it and the model's answer."""

    id: int
    sha256: str
    motif: str  # slug
    status: str  # "suggested", "confirmed" or "rejected"
    source: str  # "webcam", "upload" or "import"
    submitted_by: str
    submitted_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    model_name: str | None
    model_label: str | None
    model_verdict: str | None
    model_confidence: float | None
    note: str


@dataclass(frozen=True)
class ImportSummary:
    added: dict  # motif slug -> photos newly confirmed from the folder
    duplicates: int  # files already in the catalogue for that motif (the same photo twice)
    skipped: list = field(default_factory=list)  # (path, reason) of files that could not be read
    empty: list = field(default_factory=list)  # class folders with no files in them


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    written: dict  # motif slug -> confirmed photos in its folder
    removed: int  # files of a previous export that are no longer confirmed


# --------------------------------------------------------------------------- schema (ORM)


class UTCDateTime(TypeDecorator):
    """Timestamps as aware UTC datetimes on both backends (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else _as_utc(value)

    def process_result_value(self, value, dialect):
        return None if value is None else _as_utc(value)


class Base(DeclarativeBase):
    # Named constraints, so migrations can refer to them on every backend.
    metadata = MetaData(naming_convention={
        "pk": "pk_%(table_name)s", "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s", "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
    })


class MotifRow(Base):
    __tablename__ = "motifs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    literal_id: Mapped[str] = mapped_column(Text, default="")
    literal_en: Mapped[str] = mapped_column(Text, default="")
    meaning_id: Mapped[str] = mapped_column(Text, default="")
    meaning_en: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(Text)


class PhotoRow(Base):
    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the stored bytes
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))  # "jpeg" or "png"
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PhotoDataRow(Base):
    """The bytes of a photo, for catalogues kept in a database (a folder catalogue uses files)."""

    __tablename__ = "photo_data"
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CaptureRow(Base):
    __tablename__ = "captures"
    __table_args__ = (
        UniqueConstraint("photo_id", "motif_id"),  # the same photo suggested twice for a motif is one row
        CheckConstraint("status IN ('suggested', 'confirmed', 'rejected')", name="status"),
        CheckConstraint("source IN ('webcam', 'upload', 'import')", name="source"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"))
    motif_id: Mapped[int] = mapped_column(ForeignKey("motifs.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    model_name: Mapped[str | None] = mapped_column(Text)
    model_label: Mapped[str | None] = mapped_column(Text)
    model_verdict: Mapped[str | None] = mapped_column(Text)
    model_confidence: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    photo: Mapped[PhotoRow] = relationship(lazy="joined", innerjoin=True)
    motif: Mapped[MotifRow] = relationship(lazy="joined", innerjoin=True)


class EmbeddingRow(Base):
    """A cached feature vector of one photo under one model (float32 bytes)."""

    __tablename__ = "embeddings"
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    model_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class RevisionRow(Base):
    """One row whose value grows with every change to the confirmed photos or the motif texts."""

    __tablename__ = "revision"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


# --------------------------------------------------------------------------- where photo bytes live


class FolderStore:
    """Photo files beside a SQLite database: photos/<sha[:2]>/<sha256>.<ext>.

    Files follow the rows: `stage` writes a file before its rows are committed and `settle`,
    after the transaction, keeps it if a row uses it and removes it otherwise.
    """

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()  # one settle at a time: "is it used?" then remove/restore

    @property
    def photos(self) -> Path:
        return self.root / PHOTOS_DIR

    def path(self, sha256: str, fmt: str) -> Path:
        return self.photos / sha256[:2] / f"{sha256}.{FILE_EXTENSIONS[fmt]}"

    def stage(self, sha256: str, fmt: str, data: bytes) -> None:
        """Write the file completely under a temporary name, then rename it to its hash name."""
        target = self.path(sha256, fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_file(target, data, temp_dir=self.photos)

    def keep(self, session: Session, photo_id: int, data: bytes) -> None:
        """The rows are being written; the file is already there."""

    def drop(self, session: Session, photo_id: int) -> None:
        """The photo row is being deleted; its file goes in `settle`, once that is committed."""

    def settle(self, sha256: str, fmt: str, data: bytes | None, used: Callable[[], bool]) -> None:
        """After a transaction: keep (or restore) the file if a row uses it, else remove it."""
        with self._lock:
            path = self.path(sha256, fmt)
            if not used():
                path.unlink(missing_ok=True)
            elif data is not None and not path.exists():  # another thread's delete removed it meanwhile
                self.stage(sha256, fmt, data)

    def read(self, connection, photo_id: int, sha256: str, fmt: str) -> bytes:
        try:
            return self.path(sha256, fmt).read_bytes()
        except FileNotFoundError:
            raise CatalogueError(f"the file of photo {sha256} is missing from {self.photos}.") from None

    def sweep(self, used: set[str], grace_seconds: float) -> int:
        """Remove photo files no row uses and unfinished temporary files, once older than the grace."""
        if not self.photos.is_dir():
            return 0
        cutoff = time.time() - grace_seconds
        removed = 0
        for entry in self.photos.iterdir():
            candidates = [entry] if entry.is_file() else list(entry.iterdir()) if entry.is_dir() else []
            for path in candidates:
                match = _PHOTO_FILE.fullmatch(path.name)
                orphan = (match and match[1] not in used) or path.name.startswith(TEMP_PREFIX)
                if orphan and path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


class DatabaseStore:
    """Photo bytes in the database itself (`photo_data`), written in the capture's transaction."""

    def stage(self, sha256: str, fmt: str, data: bytes) -> None:
        """Nothing to do before the transaction."""

    def keep(self, session: Session, photo_id: int, data: bytes) -> None:
        session.add(PhotoDataRow(photo_id=photo_id, data=data))

    def drop(self, session: Session, photo_id: int) -> None:
        session.execute(delete(PhotoDataRow).where(PhotoDataRow.photo_id == photo_id))

    def settle(self, sha256: str, fmt: str, data: bytes | None, used: Callable[[], bool]) -> None:
        """Nothing to do: the bytes were committed or rolled back with the rows."""

    def read(self, connection, photo_id: int, sha256: str, fmt: str) -> bytes:
        data = connection.scalar(select(PhotoDataRow.data).where(PhotoDataRow.photo_id == photo_id))
        if data is None:
            raise CatalogueError(f"the bytes of photo {sha256} are missing from the database.")
        return bytes(data)

    def sweep(self, used: set[str], grace_seconds: float) -> int:
        return 0


# --------------------------------------------------------------------------- the catalogue


class Catalogue:
    """Photos of motifs with their curation state, in a folder (SQLite) or a PostgreSQL database.

    Open one with `Catalogue.open(location)`; it is thread-safe (each call runs its own
    transaction) and a context manager.
    """

    def __init__(self, engine: Engine, store: FolderStore | DatabaseStore, location: str):
        self.engine = engine
        self.store = store
        self.location = location

    @classmethod
    def open(cls, location) -> "Catalogue":
        """Open (creating and upgrading as needed) the catalogue at a folder or a PostgreSQL URL.

        Args:
            location: a folder (str or Path; created if missing: SQLite `catalogue.db` plus a
                `photos/` folder), or a `postgresql://user:password@host:port/database` URL (photo
                bytes are then stored in the database).

        Returns:
            Catalogue, upgraded to the newest schema, seeded with the motifs of
            `sasirangan/motifs.json` when it is new.

        Raises:
            CatalogueError: the location is not a folder or a PostgreSQL URL, or cannot be reached.
        """
        url, folder = _database_url(location)
        engine = _make_engine(url)
        shown = url.render_as_string(hide_password=True) if folder is None else str(folder)
        try:
            with _writer(engine).begin() as connection:
                _upgrade(connection)
            catalogue = cls(engine, FolderStore(folder) if folder else DatabaseStore(), shown)
            catalogue.sweep()
        except OperationalError as error:
            engine.dispose()
            reason = " ".join(str(error.orig).split())
            raise CatalogueError(f"cannot open the catalogue at {shown}: {reason}") from None
        except BaseException:
            engine.dispose()
            raise
        return catalogue

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Catalogue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalogue({self.location!r})"

    def sweep(self, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
        """Remove photo files that no row uses (a crash between file and commit); returns how many."""
        if not isinstance(self.store, FolderStore):
            return 0
        with Session(self.engine) as session:
            used = set(session.scalars(select(PhotoRow.sha256)))
        removed = self.store.sweep(used, grace_seconds)
        if removed:
            log.info("catalogue %s: swept %d unused photo files", self.location, removed)
        return removed

    # ----------------------------------------------------------------------- photos in

    def add_photo(self, image, motif: str, *, source: str, status: str = "suggested", by: str = "anonymous",
                  model_answer: dict | None = None, note: str = "", max_bytes: int | None = None,
                  max_pixels: int | None = None) -> Capture:
        """Store a photo as showing `motif` (one transaction; the same photo twice is stored once).

        Args:
            image: a path, the bytes of an image file, a PIL image or an RGB uint8 array (H, W, 3).
            motif: a motif slug or display name; an unknown one creates a new motif.
            source: "webcam", "upload" or "import".
            status: "suggested" (default), "confirmed" or "rejected".
            by: who submitted it (recorded as the reviewer too when the status is not "suggested").
            model_answer: the model's answer shown at capture: {"model", "label", "verdict",
                "confidence"}, any of them may be missing.
            note: free text.
            max_bytes: refuse uploads larger than this many bytes (None: no limit).
            max_pixels: refuse pictures with more pixels than this (None: no limit).

        Returns:
            Capture: the new capture, or the existing one for this photo and motif (a suggested
            one is confirmed when `status="confirmed"`).

        Raises:
            CatalogueError: the image cannot be read or is over a limit, the motif name is empty or
                too long, or an argument has a value not listed above. Nothing is stored then.
        """
        return self._add(image, motif, source=source, status=status, by=by, model_answer=model_answer,
                         note=note, max_bytes=max_bytes, max_pixels=max_pixels)[0]

    def _add(self, image, motif, *, source, status, by, model_answer=None, note="", max_bytes=None,
             max_pixels=None) -> tuple[Capture, bool]:
        _check_choice("source", source, SOURCES)
        _check_choice("status", status, STATUSES)
        _check_text(by=by, note=note)
        answer = _model_answer(model_answer)
        name = _clean_name(motif)
        photo = encode_photo(image, max_bytes=max_bytes, max_pixels=max_pixels)
        self.store.stage(photo.sha256, photo.format, photo.data)
        try:
            return self._write(lambda session: self._insert_capture(
                session, photo, name, source=source, status=status, by=by, answer=answer, note=note))
        finally:
            self.store.settle(photo.sha256, photo.format, photo.data, lambda: self._photo_used(photo.sha256))

    def _insert_capture(self, session, photo: EncodedPhoto, name: str, *, source, status, by, answer,
                        note) -> tuple[Capture, bool]:
        now = _now()
        motif_row = self._motif_row(session, name, create_by=by)
        photo_row = session.scalar(select(PhotoRow).where(PhotoRow.sha256 == photo.sha256))
        if photo_row is None:
            photo_row = PhotoRow(sha256=photo.sha256, width=photo.width, height=photo.height, format=photo.format,
                                 size_bytes=len(photo.data), created_at=now)
            session.add(photo_row)
            session.flush()  # a photo stored meanwhile by another writer fails here, and is retried
            self.store.keep(session, photo_row.id, photo.data)
        row = session.scalar(select(CaptureRow).with_for_update(of=CaptureRow)
                             .where(CaptureRow.photo_id == photo_row.id, CaptureRow.motif_id == motif_row.id))
        created = row is None
        if created:
            row = CaptureRow(photo=photo_row, motif=motif_row, status=status, source=source, submitted_by=by,
                             submitted_at=now, note=note, **answer)
            session.add(row)
        newly_confirmed = status == "confirmed" and (created or row.status == "suggested")
        if status != "suggested" and (created or newly_confirmed):
            row.status, row.reviewed_by, row.reviewed_at = status, by, now
        session.flush()
        if newly_confirmed:
            _bump_revision(session)
        return _capture(row), created

    # ----------------------------------------------------------------------- curating

    def confirm(self, capture_id: int, by: str) -> Capture:
        """Mark a capture as showing its motif (a curator's decision); returns it updated."""
        return self._review(capture_id, "confirmed", by)

    def reject(self, capture_id: int, by: str) -> Capture:
        """Mark a capture as not showing its motif; the photo stays, out of references and exports."""
        return self._review(capture_id, "rejected", by)

    def _review(self, capture_id: int, status: str, by: str) -> Capture:
        _check_text(by=by)

        def work(session):
            row = _capture_row(session, capture_id)
            changes_confirmed = (row.status == "confirmed") != (status == "confirmed")
            row.status, row.reviewed_by, row.reviewed_at = status, by, _now()
            session.flush()
            if changes_confirmed:
                _bump_revision(session)
            return _capture(row)

        return self._write(work)

    def relabel(self, capture_id: int, motif: str, by: str) -> Capture:
        """Move a capture to another (or a new) motif, keeping its status.

        If the photo already has a capture for that motif, the two are merged into that one, with
        the stronger status (confirmed, then suggested, then rejected). Returns the capture now
        holding the photo and the motif.
        """
        name = _clean_name(motif)
        _check_text(by=by)

        def work(session):
            row = _capture_row(session, capture_id)
            target = self._motif_row(session, name, create_by=by)
            if target.id == row.motif_id:
                return _capture(row)
            was_confirmed = row.status == "confirmed"
            other = session.scalar(select(CaptureRow).with_for_update(of=CaptureRow)
                                   .where(CaptureRow.photo_id == row.photo_id, CaptureRow.motif_id == target.id))
            if other is None:
                row.motif = target
                kept = row
            else:
                other.status = min(other.status, row.status, key=("confirmed", "suggested", "rejected").index)
                session.delete(row)
                kept = other
            kept.reviewed_by, kept.reviewed_at = by, _now()
            session.flush()
            if was_confirmed or kept.status == "confirmed":
                _bump_revision(session)
            return _capture(kept)

        return self._write(work)

    def delete(self, capture_id: int, by: str) -> None:
        """Delete a capture; the photo goes too when no other capture uses it."""
        def work(session):
            row = _capture_row(session, capture_id)
            photo, was_confirmed = row.photo, row.status == "confirmed"
            session.delete(row)
            session.flush()
            if not session.scalar(select(func.count()).where(CaptureRow.photo_id == photo.id)):
                session.execute(delete(EmbeddingRow).where(EmbeddingRow.photo_id == photo.id))
                self.store.drop(session, photo.id)
                session.execute(delete(PhotoRow).where(PhotoRow.id == photo.id))
            if was_confirmed:
                _bump_revision(session)
            return photo.sha256, photo.format

        sha256, fmt = self._write(work)
        self.store.settle(sha256, fmt, None, lambda: self._photo_used(sha256))
        log.info("catalogue %s: capture %d (photo %s) deleted by %s", self.location, capture_id, sha256, by)

    def update_motif(self, slug: str, /, by: str, **fields) -> Motif:
        """Change a motif's texts: name, literal ({"id", "en"}), meaning ({"id", "en"}), sources (URLs).

        The slug stays (it names the motif's export folder and the references). Returns the motif updated.
        """
        values = _motif_values(fields)
        _check_text(by=by)

        def work(session):
            # FOR NO KEY UPDATE: captures being added for this motif are not held up.
            row = session.scalar(select(MotifRow).where(MotifRow.slug == slugify(slug)).with_for_update(key_share=True))
            if row is None:
                raise CatalogueError(f"no motif {slug!r} in the catalogue.")
            for column, value in values.items():
                setattr(row, column, value)
            row.updated_at, row.updated_by = _now(), by
            session.flush()
            _bump_revision(session)
            return _motif(row)

        return self._write(work)

    # ----------------------------------------------------------------------- reading

    def motifs(self) -> list[Motif]:
        with Session(self.engine) as session:
            return [_motif(row) for row in session.scalars(select(MotifRow).order_by(MotifRow.slug))]

    def motif(self, slug: str) -> Motif | None:
        with Session(self.engine) as session:
            row = session.scalar(select(MotifRow).where(MotifRow.slug == slugify(slug)))
            return None if row is None else _motif(row)

    def captures(self, status: str | None = None, motif: str | None = None, limit: int | None = None) -> list[Capture]:
        """Captures, newest first, optionally of one status and/or one motif (slug or name)."""
        query = select(CaptureRow).order_by(CaptureRow.submitted_at.desc(), CaptureRow.id.desc())
        if status is not None:
            _check_choice("status", status, STATUSES)
            query = query.where(CaptureRow.status == status)
        if motif is not None:
            query = query.where(CaptureRow.motif.has(MotifRow.slug == slugify(motif)))
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine) as session:
            return [_capture(row) for row in session.scalars(query)]

    def confirmed(self) -> list[tuple[str, str]]:
        """(motif slug, photo sha256) of every confirmed capture, sorted."""
        query = (select(MotifRow.slug, PhotoRow.sha256).select_from(CaptureRow).join(MotifRow).join(PhotoRow)
                 .where(CaptureRow.status == "confirmed").order_by(MotifRow.slug, PhotoRow.sha256))
        with Session(self.engine) as session:
            return [(slug, sha256) for slug, sha256 in session.execute(query)]

    def photo_bytes(self, sha256: str) -> bytes:
        """The stored file of a photo (JPEG or PNG, no metadata)."""
        _check_sha256(sha256)
        with Session(self.engine) as session:
            row = session.scalar(select(PhotoRow).where(PhotoRow.sha256 == sha256))
            if row is None:
                raise CatalogueError(f"no photo {sha256} in the catalogue.")
            return self.store.read(session, row.id, row.sha256, row.format)

    def load_photo(self, sha256: str) -> np.ndarray:
        """A photo as an RGB uint8 array (H, W, 3)."""
        with Image.open(io.BytesIO(self.photo_bytes(sha256))) as image:
            return np.asarray(image.convert("RGB"))

    def counts(self) -> dict[str, dict[str, int]]:
        """{motif slug: {status: captures}} for every motif, zeros included."""
        query = (select(MotifRow.slug, CaptureRow.status, func.count(CaptureRow.id)).select_from(MotifRow)
                 .outerjoin(CaptureRow).group_by(MotifRow.slug, CaptureRow.status))
        counts: dict[str, dict[str, int]] = {}
        with Session(self.engine) as session:
            for slug, status, count in session.execute(query):
                counts.setdefault(slug, dict.fromkeys(STATUSES, 0))
                if status is not None:
                    counts[slug][status] = count
        return dict(sorted(counts.items()))

    def revision(self) -> int:
        """A number that grows with every change to the confirmed photos or the motif texts."""
        with self.engine.connect() as connection:
            return connection.scalar(select(RevisionRow.value).where(RevisionRow.id == 1))

    def get_embeddings(self, model_key: str, sha256s) -> dict[str, np.ndarray]:
        """Cached float32 vectors of these photos under `model_key`; photos without one are left out."""
        wanted = list(dict.fromkeys(sha256s))
        vectors = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), BATCH_ROWS):
                batch = wanted[start:start + BATCH_ROWS]
                query = (select(PhotoRow.sha256, EmbeddingRow.vector).join(EmbeddingRow)
                         .where(EmbeddingRow.model_key == model_key, PhotoRow.sha256.in_(batch)))
                vectors.update({sha256: np.frombuffer(bytes(vector), dtype=np.float32).copy()
                                for sha256, vector in session.execute(query)})
        return vectors

    def put_embedding(self, model_key: str, sha256: str, vector) -> None:
        """Cache a photo's vector under `model_key` (stored as float32; replaces an earlier one)."""
        if not model_key or len(model_key) > 100:
            raise CatalogueError(f"model_key must be 1 to 100 characters. Received: model_key={model_key!r}.")
        _check_sha256(sha256)
        data = np.asarray(vector, dtype=np.float32).ravel().tobytes()

        def work(session):
            photo_id = session.scalar(select(PhotoRow.id).where(PhotoRow.sha256 == sha256))
            if photo_id is None:
                raise CatalogueError(f"no photo {sha256} in the catalogue.")
            row = session.get(EmbeddingRow, (photo_id, model_key))
            if row is None:
                session.add(EmbeddingRow(photo_id=photo_id, model_key=model_key, vector=data))
            else:
                row.vector = data

        self._write(work)

    # ----------------------------------------------------------------------- moving data

    def import_folder(self, data_dir, by: str = "import", progress: Callable | None = None) -> ImportSummary:
        """Add a folder-per-class tree (sub-folder name = motif) as confirmed photos.

        Args:
            data_dir: a folder with one sub-folder per motif.
            by: recorded as submitter and reviewer.
            progress: called as `progress(done, total, path)` after each file.

        Returns:
            ImportSummary: photos added per motif, duplicates, unreadable files and empty folders.
        """
        root = Path(data_dir)
        if not root.is_dir():
            raise CatalogueError(f"{root}: folder not found.")
        classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise CatalogueError(f"{root} needs one sub-folder per motif; found none.")
        files = {folder: _list_files(folder) for folder in classes}
        total = sum(len(paths) for paths in files.values())
        added, duplicates, skipped, done = {}, 0, [], 0
        for folder, paths in files.items():
            for path in paths:
                try:
                    if path.suffix.lower() not in IMAGE_EXTENSIONS:
                        raise CatalogueError(f"{path}: not an image file (extension '{path.suffix or 'none'}').")
                    capture, created = self._add(path, folder.name, source="import", status="confirmed", by=by)
                except CatalogueError as error:
                    skipped.append((str(path), str(error)))
                else:
                    if created:
                        added[capture.motif] = added.get(capture.motif, 0) + 1
                    duplicates += not created
                done += 1
                if progress is not None:
                    progress(done, total, path)
        empty = [folder.name for folder, paths in files.items() if not paths]
        return ImportSummary(added=added, duplicates=duplicates, skipped=skipped, empty=empty)

    def export(self, out_dir) -> ExportSummary:
        """Write the confirmed photos as <out_dir>/<slug>/<sha256>.<ext> plus provenance.csv.

        `out_dir` must be new, empty or an earlier export (which is brought up to date: photos no
        longer confirmed are removed). The result is a folder `sasirangan train` reads.

        Raises:
            CatalogueError: `out_dir` holds anything that is not an earlier export.
        """
        out = Path(out_dir)
        _check_export_folder(out)
        out.mkdir(parents=True, exist_ok=True)
        query = (select(CaptureRow).join(MotifRow).join(PhotoRow).where(CaptureRow.status == "confirmed")
                 .options(contains_eager(CaptureRow.motif), contains_eager(CaptureRow.photo))
                 .order_by(MotifRow.slug, PhotoRow.sha256))
        records, written = [], {}
        with Session(self.engine) as session:
            for row in session.scalars(query):
                photo = row.photo
                if not _SLUG.fullmatch(row.motif.slug):  # slugs are made safe on the way in; check anyway
                    raise CatalogueError(f"motif slug {row.motif.slug!r} cannot be a folder name.")
                relative = f"{row.motif.slug}/{photo.sha256}.{FILE_EXTENSIONS[photo.format]}"
                if not (out / relative).is_file():
                    (out / row.motif.slug).mkdir(exist_ok=True)
                    _write_file(out / relative, self.store.read(session, photo.id, photo.sha256, photo.format))
                records.append(_provenance(relative, _capture(row)))
                written[row.motif.slug] = written.get(row.motif.slug, 0) + 1
        removed = _remove_stale_export_files(out, {record["path"] for record in records})
        _write_provenance(out, records)
        return ExportSummary(path=out, written=written, removed=removed)

    def backup(self, dest_folder) -> Path:
        """Copy the whole catalogue (all tables, all statuses, all photos) into a new folder catalogue.

        It is read in one snapshot transaction, so it is consistent while others keep writing;
        the copy opens with `Catalogue.open(dest_folder)`.

        Raises:
            CatalogueError: `dest_folder` exists and is not empty.
        """
        dest = Path(dest_folder)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise CatalogueError(f"{dest} is not empty; back up into a new or empty folder.")
        created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        engine = _make_engine(URL.create("sqlite", database=str(dest / DATABASE_FILE)))
        try:
            with self._snapshot() as source, _writer(engine).begin() as target:
                _upgrade(target, seed=False)
                self._copy_rows(source, target, FolderStore(dest))
        except BaseException:
            engine.dispose()
            _clear_folder(dest, remove=created)
            raise
        engine.dispose()
        return dest

    @contextmanager
    def _snapshot(self):
        """A read transaction that sees one consistent state of the whole catalogue."""
        options = ({"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
                   if self.engine.dialect.name == "postgresql" else {})
        with self.engine.connect() as connection:
            connection.execution_options(**options)
            with connection.begin():
                yield connection

    def _copy_rows(self, source, target, photos: FolderStore) -> None:
        for model in (MotifRow, PhotoRow, CaptureRow, EmbeddingRow):
            table = model.__table__
            query = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=BATCH_ROWS)
            for rows in source.execute(query).mappings().partitions():
                rows = [dict(row) for row in rows]
                if model is PhotoRow:
                    for row in rows:
                        data = self.store.read(source, row["id"], row["sha256"], row["format"])
                        photos.stage(row["sha256"], row["format"], data)
                target.execute(insert(table), rows)
        value = source.scalar(select(RevisionRow.value).where(RevisionRow.id == 1))
        target.execute(update(RevisionRow).where(RevisionRow.id == 1).values(value=value))

    # ----------------------------------------------------------------------- internals

    def _write(self, work: Callable[[Session], object]):
        """Run `work` in one write transaction, again if it lost a race to another writer."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with Session(_writer(self.engine), expire_on_commit=False) as session, session.begin():
                    return work(session)
            except DBAPIError as error:
                if attempt == WRITE_ATTEMPTS - 1 or not _lost_race(error):
                    raise
                time.sleep(random.uniform(0, 0.01 * 2 ** attempt))  # let the winner commit

    def _motif_row(self, session: Session, name: str, create_by: str) -> MotifRow:
        row = session.scalar(select(MotifRow).where(MotifRow.slug == slugify(name)))
        if row is None:
            now = _now()
            row = MotifRow(slug=slugify(name), name=name, literal_id="", literal_en="", meaning_id="", meaning_en="",
                           sources=[], created_at=now, updated_at=now, updated_by=create_by)
            session.add(row)
            session.flush()  # a motif created meanwhile by another writer fails here, and is retried
        return row

    def _photo_used(self, sha256: str) -> bool:
        with Session(self.engine) as session:
            return session.scalar(select(PhotoRow.id).where(PhotoRow.sha256 == sha256)) is not None


# --------------------------------------------------------------------------- photos: decode, clean, encode


@dataclass(frozen=True)
class EncodedPhoto:
    """A picture as it is stored: upright RGB, re-encoded without metadata, named by its hash."""

    data: bytes
    sha256: str
    format: str  # "jpeg" or "png"
    width: int
    height: int


def encode_photo(image, max_bytes: int | None = None, max_pixels: int | None = None) -> EncodedPhoto:
    """Decode any picture and re-encode it as the catalogue stores it.

    EXIF orientation is applied and transparency flattened onto white (`sasirangan.data.load_image`);
    the picture is then rebuilt from its pixels alone, so no EXIF, GPS, XMP, ICC profile or
    comment is carried over. PNG uploads stay PNG; everything else becomes JPEG at quality 95.

    Raises:
        CatalogueError: the input is empty, not a picture, corrupt, or over `max_bytes`/`max_pixels`.
    """
    rgb, fmt = _decode(image, max_bytes, max_pixels)
    buffer = io.BytesIO()
    picture = Image.fromarray(rgb)  # a new image from pixels only: no metadata to carry over
    if fmt == "png":
        picture.save(buffer, "PNG")
    else:
        picture.save(buffer, "JPEG", quality=JPEG_QUALITY)
    data = buffer.getvalue()
    return EncodedPhoto(data=data, sha256=hashlib.sha256(data).hexdigest(), format=fmt,
                        width=picture.width, height=picture.height)


def _decode(image, max_bytes, max_pixels) -> tuple[np.ndarray, str]:
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise CatalogueError(f"expected an RGB uint8 array of shape (H, W, 3). "
                                 f"Received: dtype={image.dtype}, shape={image.shape}.")
        _check_pixels("picture", image.shape[1], image.shape[0], max_pixels)
        return np.ascontiguousarray(image), "jpeg"
    if isinstance(image, Image.Image):
        _check_pixels("picture", image.width, image.height, max_pixels)
        return _load(image, "picture"), "png" if image.format == "PNG" else "jpeg"
    raw, name = _read_input(image, max_bytes)
    try:
        with Image.open(io.BytesIO(raw)) as header:  # reads the size only, before decoding
            fmt, (width, height) = header.format, header.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise CatalogueError(f"{name}: not an image file (or a format Pillow cannot read).") from None
    _check_pixels(name, width, height, max_pixels)
    return _load(raw, name), "png" if fmt == "PNG" else "jpeg"


def _read_input(image, max_bytes) -> tuple[bytes, str]:
    if isinstance(image, (bytes, bytearray, memoryview)):
        raw, name = bytes(image), "upload"
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image)
        name = str(path)
        if not path.is_file():
            raise CatalogueError(f"{name}: file not found.")
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise CatalogueError(f"{name}: {path.stat().st_size:,} bytes is over the limit of {max_bytes:,} bytes.")
        raw = path.read_bytes()
    else:
        raise CatalogueError(f"image must be a path, bytes, a PIL image or an RGB uint8 numpy array. "
                             f"Received: {type(image).__name__}.")
    if not raw:
        raise CatalogueError(f"{name}: the file is empty (0 bytes).")
    if max_bytes is not None and len(raw) > max_bytes:
        raise CatalogueError(f"{name}: {len(raw):,} bytes is over the limit of {max_bytes:,} bytes.")
    return raw, name


def _check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise CatalogueError(f"{name}: {width}x{height} = {width * height:,} pixels is over the limit of "
                             f"{max_pixels:,} pixels.")


def _load(source, name: str) -> np.ndarray:
    try:
        return load_image(source)
    except ImageError as error:
        raise CatalogueError(f"{name}: {str(error).split(': ', 1)[-1]}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # a PIL image opened lazily from a bad file
        raise CatalogueError(f"{name}: corrupt or truncated image ({error}).") from None


# --------------------------------------------------------------------------- database set-up


def _database_url(location) -> tuple[URL, Path | None]:
    """The SQLAlchemy URL of a location, and the catalogue folder when it is one."""
    text_location = str(location)
    for scheme in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if isinstance(location, str) and text_location.startswith(scheme):
            try:
                return make_url("postgresql+psycopg://" + text_location[len(scheme):]), None
            except (ArgumentError, ValueError):
                raise CatalogueError(f"cannot read the PostgreSQL URL {scheme}...; expected "
                                     f"postgresql://user:password@host:port/database.") from None
    if isinstance(location, str) and "://" in text_location:
        scheme = text_location.split("://")[0]
        raise CatalogueError(f"a catalogue is a folder or a postgresql:// URL. Received: {scheme}://...")
    folder = Path(location).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CatalogueError(f"{folder} is a file; a folder catalogue needs a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite", database=str(folder / DATABASE_FILE)), folder


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
                               pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # prepare_threshold=None: no server-side prepared statements, which transaction poolers
    # (pgbouncer, Supabase's pooler) cannot keep across a session.
    return create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_pre_ping=True,
                         connect_args={"prepare_threshold": None})


def _sqlite_connect(dbapi_connection, connection_record) -> None:
    # SQLAlchemy, not the sqlite3 module, starts transactions (`_sqlite_begin`), so reads are
    # snapshots and writers queue on BEGIN IMMEDIATE instead of failing on a lock upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get('sqlite_begin', 'DEFERRED')}")


def _writer(engine: Engine) -> Engine:
    """The engine for write transactions: on SQLite they take the write lock when they begin."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def _upgrade(connection, revision: str = "head", seed: bool = True) -> None:
    """Migrate the schema to `revision` in the caller's transaction; seed the motifs when it is new."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    new = MigrationContext.configure(connection).get_current_revision() is None
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    if new and seed:
        _seed_motifs(connection)


def _seed_motifs(connection) -> None:
    shipped = json.loads(resources.files("sasirangan").joinpath("motifs.json").read_text(encoding="utf-8"))
    now = _now()
    rows = [{"slug": slug, "name": entry["name"], "literal_id": entry.get("literal", {}).get("id", ""),
             "literal_en": entry.get("literal", {}).get("en", ""), "meaning_id": entry.get("meaning", {}).get("id", ""),
             "meaning_en": entry.get("meaning", {}).get("en", ""), "sources": entry.get("sources", []),
             "created_at": now, "updated_at": now, "updated_by": "sasirangan"}
            for slug, entry in shipped["motifs"].items() if slug != "unknown"]
    connection.execute(insert(MotifRow), rows)


def _lost_race(error: DBAPIError) -> bool:
    """A unique row another writer added first, a row it removed, a deadlock or a busy database."""
    code = getattr(error.orig, "sqlstate", None)
    if code is not None:
        return code in ("23505", "23503", "40001", "40P01")
    message = str(error.orig)
    return ((isinstance(error, IntegrityError) and "UNIQUE constraint failed" in message)
            or "database is locked" in message)


def _bump_revision(session: Session) -> None:
    # Last statement of its transaction: the row lock is held only while committing.
    session.execute(update(RevisionRow).where(RevisionRow.id == 1).values(value=RevisionRow.value + 1))


# --------------------------------------------------------------------------- small helpers


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise CatalogueError(f"{name} must be one of {', '.join(allowed)}. Received: {name}={value!r}.")


def _check_text(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise CatalogueError(f"{name} must be text. Received: {name}={value!r}.")


def _check_sha256(sha256) -> None:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise CatalogueError(f"a photo is named by 64 lowercase hex digits (its sha256). Received: {sha256!r}.")


def _clean_name(name) -> str:
    """A motif name as typed, with its spaces tidied; refuses names that cannot be a motif."""
    if not isinstance(name, str):
        raise CatalogueError(f"a motif is a slug or a name. Received: {type(name).__name__}.")
    tidy = " ".join(name.split())
    if not tidy:
        raise CatalogueError("a motif needs a name. Received an empty one.")
    if len(tidy) > MAX_NAME_LENGTH:
        raise CatalogueError(f"motif names are at most {MAX_NAME_LENGTH} characters. "
                             f"Received {len(tidy)}: {tidy[:20]!r}...")
    if any(unicodedata.category(char).startswith("C") for char in tidy) or not slugify(tidy):
        raise CatalogueError(f"a motif name needs letters or digits and no control characters. Received: {tidy!r}.")
    return tidy


def _model_answer(answer: dict | None) -> dict:
    answer = dict(answer or {})
    unknown = sorted(set(answer) - set(MODEL_ANSWER_KEYS))
    if unknown:
        raise CatalogueError(f"model_answer keys are {', '.join(MODEL_ANSWER_KEYS)}. Received: {', '.join(unknown)}.")
    confidence = answer.get("confidence")
    try:
        confidence = None if confidence is None else float(confidence)
    except (TypeError, ValueError):
        raise CatalogueError(f"model_answer confidence must be a number. Received: {confidence!r}.") from None
    return {"model_name": answer.get("model"), "model_label": answer.get("label"),
            "model_verdict": answer.get("verdict"), "model_confidence": confidence}


def _motif_values(fields: dict) -> dict:
    """Column values of an `update_motif` call, checked before the transaction."""
    unknown = sorted(set(fields) - set(MOTIF_FIELDS))
    if unknown:
        raise CatalogueError(f"a motif's editable fields are {', '.join(MOTIF_FIELDS)}. "
                             f"Received: {', '.join(unknown)}.")
    values = {}
    if "name" in fields:
        values["name"] = _clean_name(fields["name"])
    for text_field in ("literal", "meaning"):
        if text_field in fields:
            given = fields[text_field]
            texts_ok = isinstance(given, dict) and all(isinstance(v, str) for v in given.values())
            if not texts_ok or set(given) - {"id", "en"}:
                raise CatalogueError(f"{text_field} is a dict of texts with keys 'id' and/or 'en'. "
                                     f"Received: {given!r}.")
            values.update({f"{text_field}_{language}": value for language, value in given.items()})
    if "sources" in fields:
        sources = fields["sources"]
        if not isinstance(sources, (list, tuple)) or not all(
                isinstance(url, str) and url.startswith(("https://", "http://")) for url in sources):
            raise CatalogueError(f"sources is a list of http(s) URLs. Received: {sources!r}.")
        values["sources"] = list(sources)
    return values


def _capture_row(session: Session, capture_id: int) -> CaptureRow:
    row = session.scalar(select(CaptureRow).where(CaptureRow.id == capture_id).with_for_update(of=CaptureRow))
    if row is None:
        raise CatalogueError(f"no capture {capture_id!r} in the catalogue.")
    return row


def _capture(row: CaptureRow) -> Capture:
    return Capture(id=row.id, sha256=row.photo.sha256, motif=row.motif.slug, status=row.status, source=row.source,
                   submitted_by=row.submitted_by, submitted_at=row.submitted_at, reviewed_by=row.reviewed_by,
                   reviewed_at=row.reviewed_at, model_name=row.model_name, model_label=row.model_label,
                   model_verdict=row.model_verdict, model_confidence=row.model_confidence, note=row.note)


def _motif(row: MotifRow) -> Motif:
    return Motif(slug=row.slug, name=row.name, literal={"id": row.literal_id, "en": row.literal_en},
                 meaning={"id": row.meaning_id, "en": row.meaning_en}, sources=list(row.sources or []))


def _write_file(path: Path, data: bytes, temp_dir: Path | None = None) -> None:
    """Write all of `data` under a temporary name, then rename: readers never see half a file."""
    temp = (temp_dir or path.parent) / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _list_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _clear_folder(folder: Path, remove: bool) -> None:
    if remove:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir():
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


# --------------------------------------------------------------------------- export files


def _check_export_folder(out: Path) -> None:
    """An export goes into a new or empty folder, or over an earlier export (and nothing else)."""
    if out.exists() and not out.is_dir():
        raise CatalogueError(f"{out} is a file; export needs a folder.")
    if not out.exists() or not any(out.iterdir()):
        return
    if not _is_export(out):
        raise CatalogueError(f"{out} is not empty and is not an earlier export (no {PROVENANCE_FILE} beside motif "
                             f"folders of photos); export into a new or empty folder.")


def _is_export(out: Path) -> bool:
    provenance = out / PROVENANCE_FILE
    if not provenance.is_file():
        return False
    with open(provenance, newline="", encoding="utf-8") as file:
        if tuple(next(csv.reader(file), ())) != PROVENANCE_COLUMNS:
            return False
    for entry in out.iterdir():
        if entry.name == PROVENANCE_FILE or entry.name.startswith(TEMP_PREFIX):
            continue
        if not (entry.is_dir() and _SLUG.fullmatch(entry.name)):
            return False
        if not all(f.is_file() and (_PHOTO_FILE.fullmatch(f.name) or f.name.startswith(TEMP_PREFIX))
                   for f in entry.iterdir()):
            return False
    return True


def _remove_stale_export_files(out: Path, wanted: set[str]) -> int:
    """Remove photos of an earlier export that are no longer confirmed, and unfinished files."""
    removed = 0
    for folder in [p for p in out.iterdir() if p.is_dir()]:
        for path in folder.iterdir():
            if f"{folder.name}/{path.name}" not in wanted:
                path.unlink()
                removed += not path.name.startswith(TEMP_PREFIX)
        if not any(folder.iterdir()):
            folder.rmdir()
    for path in out.glob(f"{TEMP_PREFIX}*"):
        path.unlink()
    return removed


def _provenance(relative: str, capture: Capture) -> dict:
    return {"path": relative, "motif": capture.motif, "sha256": capture.sha256, "source": capture.source,
            "submitted_by": capture.submitted_by, "submitted_at": capture.submitted_at.isoformat(),
            "reviewed_by": capture.reviewed_by or "",
            "reviewed_at": capture.reviewed_at.isoformat() if capture.reviewed_at else "", "note": capture.note}


def _write_provenance(out: Path, records: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PROVENANCE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    _write_file(out / PROVENANCE_FILE, buffer.getvalue().encode("utf-8"))
