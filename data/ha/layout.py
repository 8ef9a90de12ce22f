"""Where every part of the HA cluster runs: one layout from the settings (SITMAP_CLUSTER_*).

Each part has a fixed offset from ``cluster_base_port``, so on one machine every part has its own loopback port
and on several machines every host uses the same ports. Node i and worker i run on host i modulo the number of
hosts; each distinct host runs one etcd member and one HAProxy.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from data.settings import Settings, get_settings

# Port offsets from cluster_base_port (README "Operations: high availability" has the same table).
ETCD_CLIENT, ETCD_PEER = 0, 1
HAPROXY_RW, HAPROXY_RO, HAPROXY_WEB, HAPROXY_STATS = 2, 3, 4, 5
PG_FIRST, API_FIRST, WORKER_FIRST = 10, 20, 30
PORT_SPAN = 40  # every port of one host lies in [base, base + PORT_SPAN)

SCOPE = "sitmap"  # the Patroni cluster's name in etcd


@dataclass(frozen=True)
class EtcdMember:
    name: str
    host: str
    client_port: int
    peer_port: int
    folder: Path

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    pg_port: int
    api_port: int
    folder: Path

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def data_dir(self) -> Path:
        # The same place data.db.cluster.Cluster(root=folder) looks for its pid file and PG_VERSION.
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "run"


@dataclass(frozen=True)
class Worker:
    name: str
    host: str
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Balancer:
    host: str
    rw_port: int
    ro_port: int
    web_port: int
    stats_port: int
    folder: Path

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @property
    def stats_url(self) -> str:
        return f"http://{self.host}:{self.stats_port}/;csv"


@dataclass(frozen=True)
class Layout:
    folder: Path
    os_user: str
    database: str
    pg_bin_dir: Path
    etcd: tuple[EtcdMember, ...]
    nodes: tuple[Node, ...]
    workers: tuple[Worker, ...]
    balancers: tuple[Balancer, ...]

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Layout:
        s = settings or get_settings()
        hosts = list(s.cluster_hosts) or ["127.0.0.1"]
        distinct = list(dict.fromkeys(hosts))
        base, root = s.cluster_base_port, Path(s.cluster_folder)
        etcd = tuple(EtcdMember(f"etcd{i}", h, base + ETCD_CLIENT, base + ETCD_PEER, root / f"etcd{i}")
                     for i, h in enumerate(distinct))
        # Node and worker ports differ by index even across hosts, so one table of ports fits every host.
        nodes = tuple(Node(f"pg{i}", hosts[i % len(hosts)], base + PG_FIRST + i, base + API_FIRST + i, root / f"pg{i}")
                      for i in range(s.cluster_nodes))
        workers = tuple(Worker(f"w{i}", hosts[i % len(hosts)], base + WORKER_FIRST + i, root / f"w{i}")
                        for i in range(s.cluster_workers))
        balancers = tuple(Balancer(h, base + HAPROXY_RW, base + HAPROXY_RO, base + HAPROXY_WEB, base + HAPROXY_STATS,
                                   root / f"haproxy{i}") for i, h in enumerate(distinct))
        return cls(root, s.cluster_os_user, s.database_name, s.pg_bin_dir, etcd, nodes, workers, balancers)

    @property
    def secret_file(self) -> Path:
        return self.folder / "secret"

    def balancer_for(self, host: str) -> Balancer:
        return next((b for b in self.balancers if b.host == host), self.balancers[0])

    def dsn(self, password: str, *, read_only: bool = False, host: str | None = None,
            dbname: str | None = None) -> str:
        """libpq URL through a host's HAProxy: the read-write port (the leader) or the read-only one."""
        b = self.balancer_for(host or self.balancers[0].host)
        port = b.ro_port if read_only else b.rw_port
        return f"postgresql://postgres:{password}@{b.host}:{port}/{dbname or self.database}"

    def node_dsn(self, node: Node, password: str, dbname: str | None = None) -> str:
        return f"postgresql://postgres:{password}@{node.host}:{node.pg_port}/{dbname or self.database}"


def is_local(host: str) -> bool:
    """Whether ``host`` is an address of this machine (parts listed on other hosts are started there)."""
    if host.startswith("127.") or host in ("localhost", "::1"):
        return True
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def free_port_base(start: int = 21000) -> int:
    """A base port from ``start`` on whose whole span (PORT_SPAN ports) is free on the loopback now: for a
    cluster of tests or benchmarks beside whatever else runs on the machine."""
    for base in range(start, 60000, PORT_SPAN):
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + PORT_SPAN):
                socks.append(socket.socket())
                socks[-1].bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port span")
