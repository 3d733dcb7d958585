//! The Redis store's settings from the config file's `store:` section.

use floodgate_config::FileDocument;
use floodgate_redis::RedisConfig;

/// The Redis store's settings from a checked `store:` section (absent
/// fields take the store's defaults: one connection, whatever the
/// serving threads, so that Redis reads and answers every call of a
/// replica on one socket; see `docs/redis.md#gathering`).
pub(super) fn redis_config(doc: &FileDocument) -> Option<RedisConfig> {
    floodgate_config::redis::redis_config(&doc.server.store, RedisConfig::DEFAULT_CONNECTIONS)
}
