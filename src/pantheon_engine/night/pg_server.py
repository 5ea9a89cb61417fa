"""A throwaway PostgreSQL server from the installed binaries, for tests and benchmarks.

:func:`start_server` makes a new cluster in a temporary folder (``initdb``, trust
authentication, one user ``pantheon``), starts it with ``pg_ctl`` on a free port of
127.0.0.1 and returns a :class:`PgServer` that gives database URLs, restarts and stops it.
The binaries come from ``$PATH`` or ``/usr/lib/postgresql/<version>/bin`` (Debian's
``postgresql`` package). ``initdb`` refuses to run as root: as root the cluster is made and
run as the ``postgres`` system user (``runuser -u postgres``), its folder given to that
user. Nothing here is for a real deployment: the cluster trusts every local connection.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pantheon_engine.errors import RunFailure

USER = "pantheon"


class PgServerError(RunFailure):
    """The throwaway server could not be made or started (the message says why)."""

    kind = "pg_server"


def find_bin_dir() -> Path | None:
    """The folder of ``pg_ctl`` (with ``initdb`` beside it), the newest version first."""
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").exists():
        return Path(on_path).parent
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "pg_ctl").exists()]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running throwaway cluster; :meth:`stop` ends it and removes its folder."""

    bin_dir: Path
    base: Path
    port: int
    run_as: str | None = None
    #: fsync off: for tests (a crash of the machine may lose the cluster, which is thrown
    #: away anyway); off for benchmarks that should see a real server's commit cost
    fast: bool = True
    _running: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(self._command(*args), cwd=self.base, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PgServerError(f"{Path(args[0]).name}: {exc}") from exc

    def _options(self) -> str:
        opts = [f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.base}", "-c max_connections=200"]
        if self.fast:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def init(self) -> None:
        done = self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", USER,
                         "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if done.returncode != 0:
            raise PgServerError(f"initdb failed: {(done.stderr or done.stdout).strip()}")

    def start(self) -> None:
        done = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                         str(self.log_file), "-o", self._options(), "-w", "-t", "60", "start")
        if done.returncode != 0:
            raise PgServerError(f"pg_ctl start failed: {done.stdout.strip()} "
                                f"{done.stderr.strip()}\n{self.log_tail()}")
        self._running = True

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart``: every connection is cut; clients must reconnect."""
        done = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                         str(self.log_file), "-o", self._options(), "-m", mode, "-w", "-t",
                         "60", "restart")
        if done.returncode != 0:
            raise PgServerError(f"pg_ctl restart failed: {done.stderr.strip()}\n"
                                f"{self.log_tail()}")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server and remove its folder."""
        if self._running:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode,
                      "-w", "stop")
            self._running = False
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_server(*, fast: bool = True, bin_dir: Path | None = None) -> PgServer:
    """Make and start a throwaway cluster; :class:`PgServerError` says why it could not."""
    found = bin_dir or find_bin_dir()
    if found is None:
        raise PgServerError("no PostgreSQL server binaries (pg_ctl, initdb) on PATH or under "
                            "/usr/lib/postgresql/*/bin",
                            hint="apt-get install postgresql")
    run_as = None
    base = Path(tempfile.mkdtemp(prefix="pantheon-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            shutil.rmtree(base, ignore_errors=True)
            raise PgServerError("running as root and there is no `postgres` user to run "
                                "the server as") from exc
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as = "postgres"
    server = PgServer(bin_dir=found, base=base, port=free_port(), run_as=run_as, fast=fast)
    try:
        server.init()
        for attempt in range(3):  # the free port may be taken before the server binds it
            try:
                server.start()
                break
            except PgServerError:
                if attempt == 2 or "already in use" not in server.log_tail():
                    raise
                server.port = free_port()
    except BaseException:
        server.stop()
        raise
    return server
