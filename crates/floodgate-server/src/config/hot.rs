//! Which fields of the server sections change at a reload: the few in
//! [`carry`] (the one list of them); every other field needs a restart,
//! and [`needs_restart`] names the one that changed as the docs and the
//! log name it.

use floodgate_config::{ServerDocument, StoreDocument};

/// Carries the fields that change at a reload from `from` (the file
/// just read) into `into` (the sections as they run): the store's
/// failure settings, the admin tokens, the trusted proxies and the
/// envoyproxy/ratelimit files. Whatever else differs keeps its running
/// value until the next restart.
pub fn carry(from: &ServerDocument, into: &mut ServerDocument) {
    into.store.on_failure = from.store.on_failure;
    into.store.local_divisor = from.store.local_divisor;
    into.store.rules = from.store.rules.clone();
    into.store.breaker = from.store.breaker;
    into.store.fail_closed_status = from.store.fail_closed_status;
    into.admin.tokens = from.admin.tokens.clone();
    into.trusted_proxies = from.trusted_proxies.clone();
    into.envoy_ratelimit = from.envoy_ratelimit.clone();
}

/// The fields of `new` that differ from `old` and need a restart.
pub fn needs_restart(old: &ServerDocument, new: &ServerDocument) -> Vec<&'static str> {
    let (a, b) = (&old.store, &new.store);
    let store_connection = |s: &StoreDocument| {
        (
            s.kind,
            s.url.clone(),
            s.nodes.clone(),
            s.key_prefix.clone(),
            s.timeout,
            s.connect_timeout,
            s.connections,
            s.time,
            s.scripting,
            s.gather_max,
            s.gather_in_flight,
            (
                s.username.clone(),
                s.password_file.clone(),
                s.password_env.clone(),
                s.tls.clone(),
                s.master_name.clone(),
                s.sentinels.clone(),
                (
                    s.sentinel_username.clone(),
                    s.sentinel_password_file.clone(),
                    s.sentinel_password_env.clone(),
                    s.database,
                ),
            ),
        )
    };
    let changed = [
        ("listen", old.listen != new.listen),
        ("admin.listen", old.admin.listen != new.admin.listen),
        ("upstream", old.upstream != new.upstream),
        (
            "upstream_timeout",
            old.upstream_timeout != new.upstream_timeout,
        ),
        ("store.kind", a.kind != b.kind),
        (
            "store (url, nodes, key_prefix, timeouts, connections, time, scripting, gathering)",
            a.kind == b.kind && store_connection(a) != store_connection(b),
        ),
        ("store.max_keys", a.max_keys != b.max_keys),
        ("region", old.region != new.region),
        ("global_store", old.global_store != new.global_store),
        ("store.shards", a.shards != b.shards),
        ("log.format", old.log.format != new.log.format),
        ("log.level", old.log.level != new.log.level),
        (
            "log.rejections_per_second",
            old.log.rejections_per_second != new.log.rejections_per_second,
        ),
        ("shutdown_grace", old.shutdown_grace != new.shutdown_grace),
        ("threads", old.threads != new.threads),
        ("connections", old.connections != new.connections),
        ("overload", old.overload != new.overload),
        ("websocket", old.websocket != new.websocket),
        (
            "admin.connections",
            old.admin.connections != new.admin.connections,
        ),
        ("grpc.listen", old.grpc.listen != new.grpc.listen),
        (
            "grpc.connections",
            old.grpc.connections != new.grpc.connections,
        ),
        (
            "admin.dashboard",
            old.admin.dashboard != new.admin.dashboard,
        ),
    ];
    changed
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(f, _)| f)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> ServerDocument {
        floodgate_config::ConfigFile::parse("t.yaml", yaml)
            .unwrap()
            .document
            .server
    }

    #[test]
    fn restart_fields_are_named() {
        let a = doc("store: {kind: redis, url: redis://a:1}\nrules: []\n");
        let b = doc("store: {kind: redis, url: redis://b:1}\nlisten: 127.0.0.1:1\n");
        let c = doc("store: {kind: memory}\n");
        assert_eq!(
            needs_restart(&a, &b),
            vec![
                "listen",
                "store (url, nodes, key_prefix, timeouts, connections, time, scripting, gathering)"
            ]
        );
        assert_eq!(needs_restart(&a, &c), vec!["store.kind"]);
        // Failure settings apply at once.
        let d = doc(
            "store: {kind: redis, url: redis://a:1, on_failure: fail_closed, local_divisor: 3}\n",
        );
        assert!(needs_restart(&a, &d).is_empty());
        // Functions or scripts are chosen at connect.
        let e = doc("store: {kind: redis, url: redis://a:1, scripting: eval}\n");
        assert_eq!(
            needs_restart(&a, &e),
            vec![
                "store (url, nodes, key_prefix, timeouts, connections, time, scripting, gathering)"
            ]
        );
    }
}
