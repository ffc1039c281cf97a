"""A throw-away PostgreSQL cluster on 127.0.0.1, started once per test session.

The server comes from the machine's PostgreSQL packages (Debian's
``postgresql``; ``.ci/run`` installs it). Its data folder is a fresh temporary
directory, removed when the session ends. PostgreSQL refuses to run as root,
so as root (CI) the cluster belongs to the ``postgres`` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy

from helpers.network import free_port


def find_binary(name: str) -> str | None:
    """``name`` (initdb, pg_ctl) on PATH or in Debian's versioned folder, newest version first."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]), reverse=True)
    return shutil.which(name) or next(iter(candidates), None)


class PostgresCluster:
    """Start with :meth:`start`, get one database per use with :meth:`database`, end with :meth:`stop`."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="digits-postgres-"))
        self.port = free_port()
        self.user = "postgres"
        self.owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        subprocess.run([*self.owner, *command], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresCluster:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if self.owner:
            shutil.chown(self.folder, "postgres")
        data = str(self.folder / "data")
        self._run(initdb, "-D", data, "-U", self.user, "--auth=trust", "--encoding=UTF8", "--no-sync")
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c fsync=off -c max_connections=200"
        self._run(pg_ctl, "-D", data, "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")
        return self

    def database(self, name: str) -> str:
        """A new, empty database ``name``; returns its SQLAlchemy URL."""
        admin = sqlalchemy.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        pg_ctl = find_binary("pg_ctl")
        if pg_ctl and (self.folder / "data" / "postmaster.pid").exists():
            self._run(pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
