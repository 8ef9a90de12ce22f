"""``sitmap cluster up|down|status``: the HA cluster brought up in order, inspected and stopped.

Order of ``up``: etcd, the Patroni nodes (one bootstraps and leads, the others clone from it), a leader with a
synchronous standby, the sitmap database with PostGIS/pgRouting and the project's migrations on the leader,
HAProxy, then the workers. Every wait polls a condition with a deadline. Only the parts listed for a host of
this machine are started here, so the same settings, run on each host, bring up a multi-host deployment.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from data.db.cluster import REQUIRED_EXTENSIONS, ClusterError
from data.db.migrate import migrate
from data.ha import procs, render
from data.ha.layout import Balancer, Layout, Node, is_local
from data.settings import PROJECT_DIR, Settings, get_settings

# The programs each part needs, and the Debian package that brings it (named in the error when missing).
PROGRAMS = {"etcd": "etcd-server", "etcdctl": "etcd-client", "patroni": "patroni", "haproxy": "haproxy"}


@dataclass(frozen=True)
class Timeouts:
    etcd_s: float = 30.0
    leader_s: float = 180.0
    haproxy_s: float = 30.0
    workers_s: float = 90.0


def _get_json(url: str, timeout_s: float = 2.0) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - our own loopback URLs
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def check_programs(settings: Settings) -> None:
    missing = [pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog, path="/usr/bin:/usr/sbin:/bin") is None]
    pg = [pkg for rel, pkg in {"initdb": "postgresql-15", "pg_rewind": "postgresql-15"}.items()
          if not (settings.pg_bin_dir / rel).exists()]
    ext = [pkg for e, pkg in REQUIRED_EXTENSIONS.items()
           if not (settings.pg_share_dir / "extension" / f"{e}.control").exists()]
    if missing + pg + ext:
        pkgs = " ".join(sorted(set(missing + pg + ext)))
        raise ClusterError(f"the HA cluster needs Debian packages that are missing: apt-get install {pkgs} "
                           "(or: make cluster)")


def password(layout: Layout) -> str:
    """The cluster's one generated password (superuser, replication and rewind roles), made on first ``up``."""
    if not layout.secret_file.exists():
        procs.write_as(layout.secret_file, secrets.token_urlsafe(24), layout.os_user)
    return layout.secret_file.read_text().strip()


def cluster_view(layout: Layout) -> dict | None:
    """Patroni's ``GET /cluster`` from the first node that answers (each node serves the whole cluster)."""
    for node in layout.nodes:
        code, doc = _get_json(f"{node.api_url}/cluster")
        if code == 200 and isinstance(doc, dict):
            return doc
    return None


def leader(layout: Layout) -> Node | None:
    view = cluster_view(layout) or {}
    for m in view.get("members", []):
        if m.get("role") == "leader" and m.get("state") == "running":
            return next((n for n in layout.nodes if n.name == m["name"]), None)
    return None


def healthy(layout: Layout, require_all: bool = True) -> dict | None:
    """The cluster view once a leader runs with a synchronous standby (and, by default, every replica runs)."""
    view = cluster_view(layout)
    if not view:
        return None
    members = view.get("members", [])
    roles = {m["name"]: (m.get("role"), m.get("state")) for m in members}
    if ("leader", "running") not in roles.values() or ("sync_standby", "running") not in roles.values():
        return None
    if require_all and (len(members) < len(layout.nodes)
                        or any(state != "running" for _, state in roles.values())):
        return None
    return view


def up(settings: Settings | None = None, timeouts: Timeouts = Timeouts(), log=print) -> Layout:  # noqa: B008
    s = settings or get_settings()
    check_programs(s)
    layout = Layout.from_settings(s)
    bin_dir, share = layout.pg_bin_dir, s.pg_share_dir
    procs.prepare(layout.folder, layout.os_user, bin_dir, share)
    pw = password(layout)

    for m in layout.etcd:
        if not is_local(m.host):
            continue
        procs.prepare(m.folder, layout.os_user, bin_dir, share)
        procs.start("etcd", render.etcd_command(layout, m), m.folder, layout.os_user)
        log(f"etcd {m.name} on {m.client_url}")
    for m in layout.etcd:
        procs.wait_for(lambda m=m: _get_json(f"{m.client_url}/health")[1] in ({"health": "true"},), timeouts.etcd_s,
                       f"etcd {m.name} at {m.client_url}/health")

    for node in layout.nodes:
        if not is_local(node.host):
            continue
        procs.prepare(node.folder, layout.os_user, bin_dir, share)
        procs.write_as(node.folder / "patroni.yml", render.patroni_yaml(layout, node, pw), layout.os_user)
        procs.start("patroni", ["patroni", str(node.folder / "patroni.yml")], node.folder, layout.os_user)
        log(f"patroni {node.name}: postgres on {node.host}:{node.pg_port}, REST API on {node.api_url}")
    try:
        procs.wait_for(lambda: healthy(layout), timeouts.leader_s, "a Patroni leader with a synchronous standby")
    except TimeoutError as exc:
        tails = "\n".join(f"--- {n.name}\n{procs.log_tail(n.folder, 'patroni')}" for n in layout.nodes
                          if is_local(n.host))
        raise ClusterError(f"{exc}\n{tails}") from exc
    head = leader(layout)
    assert head is not None
    log(f"leader: {head.name}")
    if is_local(layout.nodes[0].host):
        # Straight to the leader, not through HAProxy (which may not run yet on this host).
        migrate(layout.node_dsn(head, pw))
        log(f"database {layout.database}: extensions and migrations at head")

    for b in layout.balancers:
        if not is_local(b.host):
            continue
        procs.prepare(b.folder, layout.os_user, bin_dir, share)
        cfg = b.folder / "haproxy.cfg"
        procs.write_as(cfg, render.haproxy_cfg(layout, b.host), layout.os_user)
        procs.start("haproxy", ["haproxy", "-db", "-f", str(cfg)], b.folder, layout.os_user)
        log(f"haproxy: read-write {b.host}:{b.rw_port}, read-only {b.host}:{b.ro_port}, "
            f"workers {b.web_url}, stats http://{b.host}:{b.stats_port}/")
        procs.wait_for(lambda b=b: _rw_leader(layout, pw, b.host), timeouts.haproxy_s,
                       f"HAProxy's read-write port {b.host}:{b.rw_port} to reach the leader")

    python, python_env = worker_python(layout)
    for w in layout.workers:
        if not is_local(w.host):
            continue
        procs.prepare(w.folder, layout.os_user, bin_dir, share)
        procs.start("sitmap", render.worker_command(python, w), w.folder, layout.os_user,
                    env={**python_env, **render.worker_env(layout, w, pw)})
        log(f"worker {w.name} on {w.url}")
    for w in layout.workers:
        if is_local(w.host):
            try:
                procs.wait_for(lambda w=w: _get_json(f"{w.url}/health", 5)[0] == 200, timeouts.workers_s,
                               f"worker {w.name} at {w.url}/health")
            except TimeoutError as exc:
                raise ClusterError(f"{exc}\n{procs.log_tail(w.folder, 'sitmap')}") from exc
    for b in layout.balancers:
        if is_local(b.host):
            procs.wait_for(lambda b=b: _workers_up(b, layout), timeouts.haproxy_s, f"HAProxy on {b.host} to see "
                           "every worker up")
    return layout


def _workers_up(b: Balancer, layout: Layout) -> bool:
    up_ = {r["server"] for r in _haproxy_servers(b.stats_url) if r["proxy"] == "sitmap_web" and r["status"] == "UP"}
    return up_ == {w.name for w in layout.workers}


def worker_python(layout: Layout) -> tuple[str, dict[str, str]]:
    """The interpreter the workers run with, as the cluster's OS user, and the environment it needs.

    The venv's interpreter is a link to the one it was made from, which the OS user may not reach (a Python
    built under /root): then the system Python of the same version runs the venv's packages and the checkout.
    """
    import subprocess

    try:
        subprocess.run([sys.executable, "-c", "0"], check=True, capture_output=True, **procs.user_ids(layout.os_user))
        return sys.executable, {}
    except (OSError, subprocess.CalledProcessError):
        pass
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        raise ClusterError(f"the OS user {layout.os_user} cannot run {sys.executable} and there is no {system}: "
                           "make the venv from a Python that user can reach")
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    return str(system), {"PYTHONPATH": ":".join([*site, str(PROJECT_DIR)]), "PYTHONDONTWRITEBYTECODE": "1"}


def _rw_leader(layout: Layout, pw: str, host: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(layout.dsn(pw, host=host, dbname="postgres"), connect_timeout=2) as conn:
            return conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
    except psycopg.Error:
        return False


def down(settings: Settings | None = None, log=print) -> Layout:
    """Stop this machine's parts, the workers first and etcd last (Patroni stops its PostgreSQL)."""
    s = settings or get_settings()
    layout = Layout.from_settings(s)
    for w in layout.workers:
        if procs.stop("sitmap", w.folder):
            log(f"stopped worker {w.name}")
    for b in layout.balancers:
        if procs.stop("haproxy", b.folder):
            log(f"stopped haproxy on {b.host}")
    # Replicas first, so the leader is not asked to fail over to a node that is going away.
    head = leader(layout)
    for node in sorted(layout.nodes, key=lambda n: n == head):
        if procs.stop("patroni", node.folder, timeout_s=60):
            log(f"stopped patroni {node.name}")
        _stop_orphan(layout, node)
    for m in layout.etcd:
        if procs.stop("etcd", m.folder):
            log(f"stopped etcd {m.name}")
    return layout


def _stop_orphan(layout: Layout, node: Node) -> None:
    # A Patroni that was killed leaves its PostgreSQL running; the embedded cluster's helper stops it.
    from data.db.cluster import Cluster

    s = get_settings()
    pg = Cluster(root=node.folder, port=node.pg_port, os_user=layout.os_user, bin_dir=layout.pg_bin_dir,
                 share_dir=s.pg_share_dir)
    if pg.is_initialised() and pg.running_pid() is not None:
        pg.stop("fast")


def postmaster_pid(layout: Layout, node: Node) -> int | None:
    from data.db.cluster import Cluster

    return Cluster(root=node.folder, port=node.pg_port, os_user=layout.os_user, bin_dir=layout.pg_bin_dir,
                   share_dir=get_settings().pg_share_dir).running_pid()


def status(settings: Settings | None = None) -> dict:
    """Members (role, state, timeline, lag in bytes), HAProxy's view of its backends and the workers' health."""
    s = settings or get_settings()
    layout = Layout.from_settings(s)
    view = cluster_view(layout)
    members = (view or {}).get("members", [])
    balancers = []
    for b in layout.balancers:
        balancers.append({"host": b.host, "rw_port": b.rw_port, "ro_port": b.ro_port, "web_port": b.web_port,
                          "running": procs.alive(b.folder / "haproxy.pid") is not None if is_local(b.host) else None,
                          "servers": _haproxy_servers(b.stats_url)})
    workers = [{"name": w.name, "url": w.url, "health": _get_json(f"{w.url}/health")[0] or "down"}
               for w in layout.workers]
    etcd = [{"name": m.name, "url": m.client_url,
             "health": (_get_json(f"{m.client_url}/health")[1] or {}).get("health", "down")} for m in layout.etcd]
    return {"folder": str(layout.folder), "etcd": etcd, "members": members, "haproxy": balancers,
            "workers": workers}


def _haproxy_servers(csv_url: str) -> list[dict]:
    try:
        with urllib.request.urlopen(csv_url, timeout=2) as resp:  # noqa: S310 - our own loopback URL
            lines = resp.read().decode().splitlines()
    except OSError:
        return []
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return [{"proxy": r["pxname"], "server": r["svname"], "status": r["status"]} for r in rows
            if r.get("svname") not in ("FRONTEND", "BACKEND") and r.get("pxname") != "stats"]


def status_lines(doc: dict) -> list[str]:
    out = [f"folder: {doc['folder']}"]
    out += [f"etcd {e['name']:<6} {e['url']:<28} health={e['health']}" for e in doc["etcd"]]
    out.append(f"{'member':<8} {'host:port':<22} {'role':<13} {'state':<18} {'timeline':>8} {'lag (bytes)':>12}")
    if not doc["members"]:
        out.append("(no Patroni node answers)")
    for m in doc["members"]:
        out.append(f"{m['name']:<8} {m.get('host', '?')}:{m.get('port', '?'):<12} {m['role']:<13} "
                   f"{m['state']:<18} {m.get('timeline', '-')!s:>8} {m.get('lag', '-')!s:>12}")
    for b in doc["haproxy"]:
        out.append(f"haproxy {b['host']}: read-write :{b['rw_port']}, read-only :{b['ro_port']}, "
                   f"workers :{b['web_port']} ({'running' if b['running'] else 'not running'})")
        out += [f"  {r['proxy']:<12} {r['server']:<6} {r['status']}" for r in b["servers"]]
    out += [f"worker {w['name']:<4} {w['url']:<28} /health {w['health']}" for w in doc["workers"]]
    return out
