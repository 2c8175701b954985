"""A throw-away PostgreSQL server from Debian's `postgresql` package, for the catalogue's tests
(the `postgresql_server` fixture) and benchmarks (benchmarks/catalogue_captures.py)."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

POSTGRES_HOME = Path("/usr/lib/postgresql")  # Debian's postgresql package: <version>/bin/{initdb,pg_ctl,...}


class PostgresNotFound(RuntimeError):
    pass


def postgres_bin() -> Path:
    """The newest PostgreSQL server's bin folder."""
    versions = sorted((p for p in POSTGRES_HOME.glob("*/bin") if (p / "initdb").is_file()),
                      key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()])
    if versions:
        return versions[-1]
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("initdb")).parent
    raise PostgresNotFound("PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb): "
                           "install Debian's postgresql package (`apt-get install postgresql`); .ci/run does.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgresql():
    """Start a server on 127.0.0.1 (trust auth, durability off), yield its base URL, then remove it."""
    bindir = postgres_bin()
    # Not under pytest's tmp folder: as root, the server runs as `postgres`, which must reach it.
    root = Path(tempfile.mkdtemp(prefix="sasirangan-pg-"))
    as_postgres = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args):
        subprocess.run(as_postgres + [str(a) for a in args], cwd=root, check=True, capture_output=True, text=True)

    run(bindir / "initdb", "-D", root / "data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    # Durability off: the data is thrown away at the end, and the tests run faster.
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    try:
        run(bindir / "pg_ctl", "-D", root / "data", "-l", root / "server.log", "-o", options, "-w", "start")
    except subprocess.CalledProcessError as error:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr}\n{log}") from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        run(bindir / "pg_ctl", "-D", root / "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"
