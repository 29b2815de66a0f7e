"""Exit 0 when the Kafka broker at argv[1] answers a metadata request and lists itself (used by start.sh)."""

from __future__ import annotations

import sys


def main(bootstrap: str) -> int:
    """Ask the cluster for its brokers; 0 = at least one broker registered, 1 = not (yet)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=3000)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    return 0 if cluster.get("brokers") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
