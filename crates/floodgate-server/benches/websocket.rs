//! What the gateway's WebSocket relay costs: the round trip of one small
//! text message to a local echo upstream and back, on one open
//! connection, directly and through the gateway (without and with a
//! per-connection message limit), in one run.
//!
//! ```text
//! cargo bench -p floodgate-server --bench websocket -- --warm-up-time 1 --measurement-time 5
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use floodgate_server::config::Config;
use floodgate_server::{start, Listeners, Options, Running};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket echo on every connection.
async fn echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn gateway(up: SocketAddr, websocket: &str) -> Running {
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{up}\noverload: {{ enabled: false }}\nwebsocket: {websocket}\n"
    );
    let config = Config::parse("bench.yaml", &yaml).unwrap();
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: None,
    };
    start(config, listeners, Options::default()).await.unwrap()
}

async fn connect(addr: SocketAddr) -> Client {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap()
        .0
}

fn round_trips(c: &mut Criterion, rt: &Runtime, name: &str, ws: &mut Client) {
    let payload = "x".repeat(64);
    c.bench_function(name, |b| {
        b.iter(|| {
            rt.block_on(async {
                ws.send(Message::text(payload.as_str())).await.unwrap();
                let echoed = ws.next().await.unwrap().unwrap();
                assert_eq!(echoed.len(), 64);
            })
        })
    });
}

fn bench(c: &mut Criterion) {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let (up, plain, limited) = rt.block_on(async {
        let up = echo_upstream().await;
        let plain = gateway(up, "{}").await;
        let limited = gateway(
            up,
            "{ messages: { algorithm: token_bucket, capacity: 1000000000, refill: 1000000000/s } }",
        )
        .await;
        (up, plain, limited)
    });
    let mut direct = rt.block_on(connect(up));
    let mut through = rt.block_on(connect(plain.public_addr));
    let mut through_limited = rt.block_on(connect(limited.public_addr));
    round_trips(c, &rt, "websocket round trip: direct", &mut direct);
    round_trips(c, &rt, "websocket round trip: gateway", &mut through);
    round_trips(
        c,
        &rt,
        "websocket round trip: gateway, message limit",
        &mut through_limited,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
