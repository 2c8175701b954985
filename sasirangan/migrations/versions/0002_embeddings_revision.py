"""Embeddings cached per photo and model, and the revision counter serving processes poll.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embeddings",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.String(100), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name="fk_embeddings_photo_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("photo_id", "model_key", name="pk_embeddings"),
    )
    revision_table = op.create_table(
        "revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_revision_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_revision"),
    )
    # Start at 1 on an upgraded catalogue too: its confirmed photos are news to any reader.
    op.bulk_insert(revision_table, [{"id": 1, "value": 1}])


def downgrade() -> None:
    op.drop_table("revision")
    op.drop_table("embeddings")
