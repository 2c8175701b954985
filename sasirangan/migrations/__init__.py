"""Alembic migrations of the motif catalogue (sasirangan.catalogue); `Catalogue.open` runs them."""
