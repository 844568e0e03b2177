"""A throwaway PostgreSQL server of our own, on a spare port of 127.0.0.1, for the fault
scenarios (bench/faults/, tests/faults/): stop it, kill it, start it again, without touching
the machine's PostgreSQL that everything else uses.

Plain standard library, like tests/support/server.py, so bench scripts can import it. Needs
the server binaries (Debian's ``postgresql`` package: /usr/lib/postgresql/<version>/bin);
:func:`available` says whether they are there. PostgreSQL refuses to run as root: when we are
root, the cluster's directory belongs to the ``postgres`` account and its commands run as it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import free_port

ACCOUNT = "postgres"


def bin_dir() -> Path | None:
    """The newest installed server's binaries, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


def available() -> bool:
    if bin_dir() is None:
        return False
    if os.geteuid() == 0:
        return shutil.which("runuser") is not None and _account_exists()
    return True


def _account_exists() -> bool:
    import pwd

    try:
        pwd.getpwnam(ACCOUNT)
    except KeyError:
        return False
    return True


@dataclass
class Cluster:
    """``start``, ``stop`` (``mode`` "fast" or "immediate": a crash), ``start`` again; ``url``
    for a database in it; ``close`` stops it and removes every file."""

    port: int = field(default_factory=free_port)
    directory: Path = field(init=False)
    running: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError("PostgreSQL's server binaries are not installed")
        self.bin = binaries
        self.directory = Path(tempfile.mkdtemp(prefix="taskinbox-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, ACCOUNT, ACCOUNT)
        self._run(
            "initdb",
            "-D",
            str(self.directory / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale",
            "C",
        )

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", ACCOUNT, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-l",
            str(self.directory / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown that ends every session; ``immediate``: as a crash."""
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def close(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), timeout=5)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
