"""The embedded PostgreSQL 15 + PostGIS + pgRouting cluster (DESIGN §3).

The cluster listens on a unix socket only. When sitmap runs as root, the cluster's files belong to an
unprivileged OS user (PostgreSQL refuses to run as root) and live where that user can reach them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from data.settings import Settings, get_settings

# Which Debian package provides each file the cluster needs: named in the error when it is missing.
REQUIRED_FILES = {
    "bin/initdb": "postgresql-15",
    "bin/pg_ctl": "postgresql-15",
    "bin/postgres": "postgresql-15",
}
REQUIRED_EXTENSIONS = {"postgis": "postgresql-15-postgis-3", "pgrouting": "postgresql-15-pgrouting"}

SERVER_CONFIG = {
    "listen_addresses": "''",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": "300",
    "shared_buffers": "'256MB'",
    "work_mem": "'16MB'",
    # JIT costs tens of milliseconds on short tile queries and buys nothing at this data size.
    "jit": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}


class ClusterError(RuntimeError):
    """A problem a person can act on (missing package, port clash, broken data folder)."""


@dataclass
class Cluster:
    root: Path
    port: int
    os_user: str
    bin_dir: Path
    share_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings | None = None, root: Path | None = None) -> Cluster:
        s = settings or get_settings()
        return cls(
            root=Path(root or s.cluster_dir),
            port=s.cluster_port,
            os_user=s.cluster_os_user,
            bin_dir=s.pg_bin_dir,
            share_dir=s.pg_share_dir,
        )

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgresql.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def url(self, dbname: str = "sitmap", driver: str = "postgresql") -> str:
        return f"{driver}://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def conninfo(self, dbname: str = "sitmap") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    # -- checks ---------------------------------------------------------------------------------------

    def check_binaries(self) -> None:
        missing = [pkg for rel, pkg in REQUIRED_FILES.items() if not (self.bin_dir.parent / rel).exists()]
        for ext, pkg in REQUIRED_EXTENSIONS.items():
            if not (self.share_dir / "extension" / f"{ext}.control").exists():
                missing.append(pkg)
        if missing:
            pkgs = " ".join(sorted(set(missing)))
            raise ClusterError(
                f"PostgreSQL files are missing (looked in {self.bin_dir} and {self.share_dir}). "
                f"Install the Debian package(s): apt-get install {pkgs}"
            )

    def _as_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(self.os_user)
        except KeyError as exc:
            raise ClusterError(
                f"running as root needs an unprivileged OS user '{self.os_user}' to own the cluster; "
                "it is created by the Debian package postgresql-15, or set SITMAP_CLUSTER_OS_USER"
            ) from exc
        return ["runuser", "-u", self.os_user, "--"]

    def command(self, tool: str, *args: str) -> list[str]:
        """The command line that runs one of the cluster's PostgreSQL programs (pg_dump, psql, ...) as the
        cluster's OS user when we are root, so the client tools match the server's version and user."""
        return [*self._as_user(), str(self.bin_dir / tool), *args]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = self.command(*args)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
        return proc

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            # Every parent must be traversable by the cluster's user.
            for parent in reversed(self.root.parents):
                ours = str(parent).startswith(("/var/lib/sitmap", "/var/tmp"))
                if ours and parent.exists() and not parent.stat().st_mode & 0o001:
                    parent.chmod(parent.stat().st_mode | 0o755)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if self.data_dir.exists():
                os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    # -- lifecycle ------------------------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the cluster if it does not exist. Returns True when it was created now."""
        self.check_binaries()
        self._prepare_dirs()
        if self.is_initialised():
            return False
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        conf = "\n".join(f"{k} = {v}" for k, v in SERVER_CONFIG.items())
        conf += f"\nunix_socket_directories = '{self.socket_dir}'\nport = {self.port}\n"
        self._write_as_user(self.data_dir / "sitmap.conf", conf)
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\ninclude_if_exists = 'sitmap.conf'\n")
        return True

    def _write_as_user(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def running_pid(self) -> int | None:
        """The postmaster's pid if it is alive; a pid file left by a crash is removed."""
        try:
            pid = int(self.pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            cmdline = b""
        if b"postgres" in cmdline:
            return pid
        # Stale: the process is gone or the pid now belongs to something else.
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> bool:
        """Start the cluster (initialising it first). Returns False when it was already running."""
        self.init()
        if self.running_pid() is not None:
            return False
        for stale in self.socket_dir.glob(f".s.PGSQL.{self.port}*"):
            stale.unlink(missing_ok=True)
        self._prepare_dirs()
        proc = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
                         "start", check=False)
        if proc.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise ClusterError(f"PostgreSQL did not start: {proc.stderr.strip()}\n{tail}")
        return True

    def stop(self, mode: str = "fast") -> bool:
        if self.running_pid() is None:
            return False
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")
        return True

    def status(self) -> dict[str, object]:
        pid = self.running_pid() if self.is_initialised() else None
        return {
            "cluster_dir": str(self.root),
            "initialised": self.is_initialised(),
            "running": pid is not None,
            "pid": pid,
            "socket_dir": str(self.socket_dir),
            "port": self.port,
        }

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def destroy(self) -> None:
        self.stop("immediate") if self.running_pid() else None
        shutil.rmtree(self.root, ignore_errors=True)
