"""The Redis Cluster store: exact per client across hash slots, and the
limits of one request decided together on the node of its hash tag."""

from concurrent.futures import ThreadPoolExecutor

import floodgate

POLICY = {
    "rules": [
        {
            "name": "client",
            "key": "ip",
            "limits": [{"algorithm": "fixed_window", "limit": 20, "window": "1h"}],
        },
        {
            "name": "five",
            "match": {"path": "/five"},
            "key": "ip",
            "limits": [{"algorithm": "fixed_window", "limit": 5, "window": "1h"}],
        },
    ]
}


def cluster_limiter(nodes, prefix):
    # A slow answer on a loaded machine must not be decided by the failure
    # policy (the default, `local`, would count in this process instead):
    # exactness is the cluster's to show.
    store = floodgate.RedisClusterStore(
        [n.url for n in nodes], key_prefix=prefix, timeout="5s", on_failure="fail_closed"
    )
    return floodgate.Limiter(POLICY, store=store)


def test_each_client_gets_exactly_its_limit_across_the_nodes(redis_cluster, prefix):
    limiter = cluster_limiter(redis_cluster, prefix)
    assert limiter.connected
    clients = [f"198.51.100.{i}" for i in range(1, 31)]
    jobs = [ip for ip in clients for _ in range(25)]
    with ThreadPoolExecutor(64) as pool:
        got = list(pool.map(lambda ip: (ip, limiter.check("/", ip=ip).allowed), jobs))
    for ip in clients:
        assert sum(ok for who, ok in got if who == ip) == 20, ip
    # The clients' keys are spread over the nodes.
    holding = [n for n in redis_cluster if n.cli("--scan", "--pattern", prefix + "*")]
    assert len(holding) >= 2


def test_a_request_refused_by_one_limit_consumes_none_of_the_other(redis_cluster, prefix):
    limiter = cluster_limiter(redis_cluster, prefix)
    allowed = [limiter.check("/five", ip="192.0.2.30").allowed for _ in range(12)]
    assert allowed == [True] * 5 + [False] * 7
    # The 7 refused requests left the client's limit alone: 20 - 5.
    d = limiter.check("/other", ip="192.0.2.30")
    assert d.allowed and d.remaining == 14
