//! A Redis Cluster of 3 primaries and 3 replicas on loopback, for
//! failover tests: kill a primary and its replica takes over its slots.
//! Real `redis-server` processes, no mocks.
//!
//! `cluster-node-timeout` is short ([`NODE_TIMEOUT_MS`]), so a killed
//! primary is replaced within a few seconds, and
//! `cluster-require-full-coverage` is `no`, so the healthy primaries keep
//! answering for their own slots while the dead one's are unserved (with
//! `yes`, Redis refuses every query with `CLUSTERDOWN` from the moment the
//! node is flagged failed until its replica is promoted). Helpers say which node
//! serves a slot now (as `CLUSTER NODES` tells a live node) and kill one.

use std::time::{Duration, Instant};

use crate::redis::{cli, create_cluster, free_port, raw_command, RedisServer};

/// The cluster's `cluster-node-timeout` (ms).
pub const NODE_TIMEOUT_MS: u64 = 1_000;

/// One line of `CLUSTER NODES`: a node, its role and its slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLine {
    /// Its port.
    pub port: u16,
    /// Whether it is a primary (`master` among its flags).
    pub primary: bool,
    /// Whether others see it failed (`fail` or `fail?`).
    pub failed: bool,
    /// Its slot ranges (first, last), both included.
    pub slots: Vec<(u16, u16)>,
}

/// The lines of a `CLUSTER NODES` reply (importing and migrating slots
/// are left out).
pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = f.get(1)?.split('@').next()?;
            let port = addr.rsplit(':').next()?.parse().ok()?;
            let flags = f.get(2)?;
            let slots = f
                .iter()
                .skip(8)
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|n| (n, n)),
                })
                .collect();
            Some(NodeLine {
                port,
                primary: flags.split(',').any(|x| x == "master"),
                failed: flags.split(',').any(|x| x == "fail" || x == "fail?"),
                slots,
            })
        })
        .collect()
}

/// Three primaries, each with one replica.
pub struct ReplicatedCluster {
    nodes: Vec<RedisServer>,
}

impl ReplicatedCluster {
    /// Starts six cluster-enabled servers, creates the cluster with one
    /// replica per primary, and waits until every node reports
    /// `cluster_state:ok` and every replica is in sync with its primary.
    pub fn start() -> ReplicatedCluster {
        let timeout = NODE_TIMEOUT_MS.to_string();
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::start_with(
                    free_port(true),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        &timeout,
                        "--cluster-require-full-coverage",
                        "no",
                    ],
                )
            })
            .collect();
        create_cluster(&nodes, 1);
        let cluster = ReplicatedCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.settled() {
            assert!(
                Instant::now() < deadline,
                "cluster did not settle: {:?}",
                cluster.layout()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Every node up says `cluster_state:ok`, sees three primaries
    /// serving all slots, and every replica's link to its primary is up
    /// and synced.
    fn settled(&self) -> bool {
        let ok = self.nodes.iter().all(|n| {
            raw_command(n.port(), "CLUSTER INFO").is_some_and(|r| r.contains("cluster_state:ok"))
        });
        let layout = self.layout();
        let primaries = layout.iter().filter(|l| l.primary && !l.failed).count();
        let served: u32 = layout
            .iter()
            .filter(|l| l.primary)
            .flat_map(|l| &l.slots)
            .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
            .sum();
        let synced = layout.iter().filter(|l| !l.primary).all(|l| {
            let info = cli(l.port, &["info", "replication"]);
            info.contains("master_link_status:up") && info.contains("master_sync_in_progress:0")
        });
        ok && primaries == 3 && served == 16_384 && layout.len() == 6 && synced
    }

    /// `CLUSTER NODES` as the first live node tells it.
    pub fn layout(&self) -> Vec<NodeLine> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(|n| parse_nodes(&n.cli(&["cluster", "nodes"])))
            .find(|l| !l.is_empty())
            .unwrap_or_default()
    }

    /// The index (in [`nodes`](ReplicatedCluster::nodes)) of the primary
    /// serving `slot` now, as a live node sees it (a killed primary stays
    /// listed until a replica replaces it), if any.
    pub fn primary_of(&self, slot: u16) -> Option<usize> {
        let line = self
            .layout()
            .into_iter()
            .find(|l| l.primary && l.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))?;
        self.nodes.iter().position(|n| n.port() == line.port)
    }

    /// The indexes of the primaries, as a live node sees them.
    pub fn primaries(&self) -> Vec<usize> {
        let layout = self.layout();
        (0..self.nodes.len())
            .filter(|i| {
                layout
                    .iter()
                    .any(|l| l.primary && l.port == self.nodes[*i].port())
            })
            .collect()
    }

    /// Kills node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// `redis://127.0.0.1:<port>` of each node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes() {
        let text = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7002@17002 master,fail - 1 2 2 connected 5461-10922 [5462->-x]
c3 127.0.0.1:7004@17004 slave a1 0 3 1 connected
d4 127.0.0.1:7003@17003 master - 0 3 3 connected 10923 10924-16383
";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 4);
        assert_eq!(
            nodes[0],
            NodeLine {
                port: 7001,
                primary: true,
                failed: false,
                slots: vec![(0, 5460)]
            }
        );
        assert!(nodes[1].failed && nodes[1].primary);
        assert_eq!(nodes[1].slots, vec![(5461, 10922)]);
        assert!(!nodes[2].primary && nodes[2].slots.is_empty());
        assert_eq!(nodes[3].slots, vec![(10923, 10923), (10924, 16383)]);
    }
}
