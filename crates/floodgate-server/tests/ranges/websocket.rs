//! The gateway's WebSocket proxying.

use super::kit::*;

/// The gateway's WebSocket proxying.
pub fn bad_websocket() -> Vec<Case> {
    vec![
        case(
            "websocket_max_connections_0",
            websocket("  max_connections: 0\n"),
            "max_connections: 0",
        ),
        case(
            "websocket_max_connections_1000001",
            websocket("  max_connections: 1000001\n"),
            "max_connections: 1000001",
        ),
        case(
            "websocket_idle_timeout_999ms",
            websocket("  idle_timeout: 999ms\n"),
            "idle_timeout: 999ms",
        ),
        case(
            "websocket_idle_timeout_25h",
            websocket("  idle_timeout: 25h\n"),
            "idle_timeout: 25h",
        ),
        case(
            "websocket_max_message_127",
            websocket("  max_message: 127\n"),
            "max_message: 127",
        ),
        case(
            "websocket_max_message_65MiB",
            websocket("  max_message: 65MiB\n"),
            "max_message: 65MiB",
        ),
        case(
            "websocket_key_route",
            websocket("  key: route\n  messages: { algorithm: gcra, rate: 1/s }\n"),
            "key: route",
        ),
        case(
            "websocket_key_without_messages",
            websocket("  key: ip\n"),
            "key: ip",
        ),
        case(
            "websocket_messages_limit_0",
            websocket("  messages:\n    algorithm: fixed_window\n    limit: 0\n    window: 1s\n"),
            "limit: 0",
        ),
        case(
            "websocket_messages_soft",
            websocket("  messages:\n    algorithm: gcra\n    rate: 1/s\n    soft: 80%\n"),
            "soft: 80%",
        ),
        case(
            "websocket_messages_concurrency",
            websocket("  messages:\n    algorithm: concurrency\n    limit: 4\n"),
            "algorithm: concurrency",
        ),
        case(
            "websocket_without_upstream",
            server("websocket:\n  max_connections: 8\n"),
            "max_connections: 8",
        ),
    ]
}

/// The WebSocket bounds, lowest and highest.
pub fn good_websocket() -> Vec<Good> {
    vec![
        (
            "websocket_lowest",
            websocket("  max_connections: 1\n  idle_timeout: 1s\n  max_message: 128\n"),
        ),
        (
            "websocket_highest",
            websocket("  max_connections: 1000000\n  idle_timeout: 24h\n  max_message: 64MiB\n"),
        ),
        (
            "websocket_messages_by_api_key",
            websocket("  key: api_key\n  messages: { algorithm: sliding_window_counter, limit: 100, window: 1m }\n"),
        ),
    ]
}
