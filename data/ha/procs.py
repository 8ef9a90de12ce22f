"""Starting and stopping the HA cluster's long-running programs as its unprivileged OS user.

Each program runs detached (its own session, so it outlives ``sitmap cluster up``), writes to its own log and
is remembered by a pid file; the pid is the program itself, not a wrapper, so a signal reaches it.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from data.db.cluster import Cluster, ClusterError

T = TypeVar("T")


def prepare(folder: Path, os_user: str, pg_bin_dir: Path, share_dir: Path) -> None:
    """Create ``folder`` (and its ``run`` subfolder) owned by the OS user, as the embedded cluster does."""
    Cluster(root=folder, port=0, os_user=os_user, bin_dir=pg_bin_dir, share_dir=share_dir)._prepare_dirs()


def user_ids(os_user: str) -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(os_user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def write_as(path: Path, text: str, os_user: str, mode: int = 0o600) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(os_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def alive(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process still runs (a zombie or a reused pid does not count)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = pid_file.read_text().split()[1]
    except (FileNotFoundError, ValueError, IndexError):
        return None
    fields = stat.rpartition(")")[2].split()
    # fields[0] is the state, fields[19] the start time in clock ticks: a reused pid started later.
    if fields[0] in ("Z", "X") or fields[19] != started:
        return None
    return pid


def start(name: str, argv: list[str], folder: Path, os_user: str, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start ``argv`` unless the program in ``folder/<name>.pid`` already runs; returns its pid."""
    pid_file = folder / f"{name}.pid"
    running = alive(pid_file)
    if running is not None:
        return running
    log = open(folder / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child, closed below
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": str(folder)}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=cwd or folder, env={**base, **(env or {})}, start_new_session=True,
                                **user_ids(os_user))
    except FileNotFoundError as exc:
        raise ClusterError(f"{argv[0]} is not installed ({exc})") from exc
    finally:
        log.close()
    stat = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()
    pid_file.write_text(f"{proc.pid} {stat[19]}\n")
    return proc.pid


def stop(name: str, folder: Path, timeout_s: float = 30.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns whether it was running."""
    pid_file = folder / f"{name}.pid"
    pid = alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: alive(pid_file) is None or None, timeout_s, f"{name} to stop")
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: alive(pid_file) is None or None, 10, f"{name} to die")
    pid_file.unlink(missing_ok=True)
    return True


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.2) -> T:
    """Poll ``probe`` until it returns something other than None (or False), or raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got is not None and got is not False:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)  # the interval between polls of a condition, not a synchronisation by sleeping


def log_tail(folder: Path, name: str, chars: int = 2000) -> str:
    path = folder / f"{name}.log"
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""
