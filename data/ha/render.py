"""The configuration files of the HA cluster, rendered from its layout: etcd's command line, one Patroni YAML
per node and haproxy.cfg. Pure functions: text in, text out; ``control`` writes them."""

from __future__ import annotations

import yaml

from data.ha.layout import SCOPE, EtcdMember, Layout, Node, Worker

# Patroni's timings (written to etcd at bootstrap, shared by every node). A crashed primary is not restarted
# in place (primary_start_timeout 0): its synchronous standby, which has every acknowledged write, is promoted.
DCS = {
    "ttl": 20,
    "loop_wait": 2,
    "retry_timeout": 5,
    "maximum_lag_on_failover": 1048576,
    "primary_start_timeout": 0,
    "synchronous_mode": True,
}

# Server parameters every node shares (Patroni checks that replicas match the primary's).
PARAMETERS = {
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_log_hints": "on",  # pg_rewind needs it (the old leader rejoins without a new base backup)
    "max_wal_senders": 10,
    "max_replication_slots": 10,
    "max_connections": 300,
    "synchronous_commit": "on",
    "fsync": "on",
    "full_page_writes": "on",
    "shared_buffers": "128MB",
    "work_mem": "16MB",
    "jit": "off",  # as the embedded cluster: costs tens of milliseconds on short tile queries
    "timezone": "UTC",
    "log_min_messages": "warning",
}


def etcd_command(layout: Layout, member: EtcdMember) -> list[str]:
    cluster = ",".join(f"{m.name}={m.peer_url}" for m in layout.etcd)
    return ["etcd", "--name", member.name, "--data-dir", str(member.folder / "data"),
            "--listen-client-urls", member.client_url, "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url, "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", cluster, "--initial-cluster-token", SCOPE, "--initial-cluster-state", "new",
            "--log-level", "warn"]


def _hba(layout: Layout) -> list[str]:
    # The unix socket is the OS user's (as the embedded cluster); every TCP connection needs the password.
    lines = ["local all all trust", "local replication all trust"]
    # Every listed host: its HAProxy connects from there (TCP mode), and its node replicates from there.
    networks = ["127.0.0.1/32", *(f"{b.host}/32" for b in layout.balancers if not b.host.startswith("127."))]
    for net in dict.fromkeys(networks):
        lines += [f"host all all {net} scram-sha-256", f"host replication replicator {net} scram-sha-256"]
    return lines


def patroni_config(layout: Layout, node: Node, password: str) -> dict:
    auth = {"username": "postgres", "password": password}
    return {
        "scope": SCOPE,
        "namespace": "/sitmap/",
        "name": node.name,
        "restapi": {"listen": f"{node.host}:{node.api_port}", "connect_address": f"{node.host}:{node.api_port}"},
        "etcd3": {"hosts": [f"{m.host}:{m.client_port}" for m in layout.etcd]},
        "bootstrap": {
            "dcs": {**DCS, "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": PARAMETERS}},
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"{node.host}:{node.pg_port}",
            "connect_address": f"{node.host}:{node.pg_port}",
            "data_dir": str(node.data_dir),
            "bin_dir": str(layout.pg_bin_dir),
            "pgpass": str(node.folder / "pgpass"),
            "use_unix_socket": True,
            "authentication": {"superuser": auth,
                               "replication": {"username": "replicator", "password": password},
                               "rewind": {"username": "rewinder", "password": password}},
            "parameters": {"unix_socket_directories": str(node.socket_dir)},
            "pg_hba": _hba(layout),
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def patroni_yaml(layout: Layout, node: Node, password: str) -> str:
    return yaml.safe_dump(patroni_config(layout, node, password), sort_keys=False)


def haproxy_cfg(layout: Layout, host: str) -> str:
    """HAProxy of one host: the leader (read-write), the replicas (read-only), the workers and a stats page.

    The database backends ask Patroni's REST API who is what; when a node stops being the primary its
    sessions are cut, so a worker's pooled connection cannot keep writing to a demoted node.
    """
    b = layout.balancer_for(host)
    out = [
        "global",
        "    maxconn 2000",
        f"    stats socket {b.folder / 'admin.sock'} mode 600 level admin",
        "defaults",
        "    log global",
        "    timeout connect 2s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 2s",
        "    retries 3",
    ]
    for name, port, check in (("postgres_rw", b.rw_port, "/primary"), ("postgres_ro", b.ro_port, "/replica")):
        out += [
            f"listen {name}",
            "    mode tcp",
            f"    bind {b.host}:{port}",
            f"    option httpchk GET {check}",
            "    http-check expect status 200",
            "    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
            *(f"    server {n.name} {n.host}:{n.pg_port} check port {n.api_port}" for n in layout.nodes),
        ]
    out += [
        "listen sitmap_web",
        "    mode http",
        f"    bind {b.host}:{b.web_port}",
        "    balance roundrobin",
        "    option redispatch",
        "    retry-on conn-failure empty-response",
        "    timeout tunnel 1h",  # the live stream (SSE) stays open
        # Liveness, not readiness: while the database is between leaders every worker is unready alike, and
        # taking them all out would only turn the clients' retries into HAProxy's 503s.
        "    option httpchk GET /health/live",
        "    http-check expect status 200",
        "    default-server inter 1s fall 2 rise 1",
        *(f"    server {w.name} {w.host}:{w.port} check" for w in layout.workers),
        "listen stats",
        "    mode http",
        f"    bind {b.host}:{b.stats_port}",
        "    stats enable",
        "    stats uri /",
    ]
    return "\n".join(out) + "\n"


def worker_command(python: str, worker: Worker) -> list[str]:
    return [python, "-m", "api.cli", "serve", "--host", worker.host, "--port", str(worker.port), "--workers", "1"]


def worker_env(layout: Layout, worker: Worker, password: str) -> dict[str, str]:
    return {
        "SITMAP_DATABASE_URL": layout.dsn(password, host=worker.host),
        "SITMAP_REPLICA_URL": layout.dsn(password, read_only=True, host=worker.host),  # tiles, feature pages
        "SITMAP_FORWARDED_ALLOW_IPS": ",".join(dict.fromkeys(b.host for b in layout.balancers)),
    }
