"""High availability on existing engines (issue 17): etcd, PostgreSQL nodes under Patroni, HAProxy and sitmap
workers, described by one settings object (``layout``), configured (``render``), run as the cluster's
unprivileged OS user (``procs``) and brought up, inspected and stopped together (``control``)."""
