"""Motifs, photos (with their bytes, for catalogues kept in a database) and captures.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "motifs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(60), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("literal_id", sa.Text(), nullable=False),
        sa.Column("literal_en", sa.Text(), nullable=False),
        sa.Column("meaning_id", sa.Text(), nullable=False),
        sa.Column("meaning_en", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_motifs"),
        sa.UniqueConstraint("slug", name="uq_motifs_slug"),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.UniqueConstraint("sha256", name="uq_photos_sha256"),
    )
    op.create_table(
        "photo_data",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name="fk_photo_data_photo_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("photo_id", name="pk_photo_data"),
    )
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("motif_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("submitted_by", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=True),
        sa.Column("model_label", sa.Text(), nullable=True),
        sa.Column("model_verdict", sa.Text(), nullable=True),
        sa.Column("model_confidence", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('suggested', 'confirmed', 'rejected')", name="ck_captures_status"),
        sa.CheckConstraint("source IN ('webcam', 'upload', 'import')", name="ck_captures_source"),
        sa.ForeignKeyConstraint(["motif_id"], ["motifs.id"], name="fk_captures_motif_id"),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name="fk_captures_photo_id"),
        sa.PrimaryKeyConstraint("id", name="pk_captures"),
        sa.UniqueConstraint("photo_id", "motif_id", name="uq_captures_photo_id_motif_id"),
    )
    op.create_index("ix_captures_motif_id", "captures", ["motif_id"])
    op.create_index("ix_captures_status", "captures", ["status"])


def downgrade() -> None:
    op.drop_index("ix_captures_status", table_name="captures")
    op.drop_index("ix_captures_motif_id", table_name="captures")
    op.drop_table("captures")
    op.drop_table("photo_data")
    op.drop_table("photos")
    op.drop_table("motifs")
