"""Alembic environment of the motif catalogue.

`sasirangan.catalogue` runs the migrations itself (`Catalogue.open`), handing over its connection
in `config.attributes["connection"]`, so no alembic.ini is needed at run time. To write a new
revision, point Alembic at a catalogue's database, e.g.
`alembic -c /dev/null -x url=sqlite:///catalogue/catalogue.db revision --autogenerate -m "..."`
with `script_location = sasirangan:migrations`, and then check the file by hand.
"""

from alembic import context
from sqlalchemy import create_engine

from sasirangan.catalogue import Base

config = context.config


def run_migrations(connection) -> None:
    # SQLite alters tables by copying them ("batch" mode); PostgreSQL alters them in place.
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_migrations(config.attributes["connection"])
else:
    with create_engine(database_url()).connect() as connection:
        run_migrations(connection)
