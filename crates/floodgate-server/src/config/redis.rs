//! The Redis store's settings from the config file's `store:` section.

use floodgate_config::FileDocument;
use floodgate_redis::RedisConfig;

/// The Redis store's settings from a checked `store:` section (absent
/// fields take the store's defaults; `connections`, one per serving
/// thread of `threads`, from 2 to 64, so that each thread has its own).
pub(super) fn redis_config(doc: &FileDocument, threads: usize) -> Option<RedisConfig> {
    floodgate_config::redis::redis_config(
        &doc.server.store,
        threads.max(RedisConfig::DEFAULT_CONNECTIONS),
    )
}
