//! `floodgate simulate`'s trace reader: any bytes as the trace (JSON
//! lines), replayed through examples/floodgate.yaml on a fresh memory store.
#![no_main]

use std::sync::OnceLock;

use floodgate_server::config::Config;
use floodgate_server::simulate;
use libfuzzer_sys::fuzz_target;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::parse(
            "examples/floodgate.yaml",
            include_str!("../../examples/floodgate.yaml"),
        )
        .expect("the example config is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let config = config();
    let store = simulate::memory_store(config);
    let run = simulate::run(config, store, "fuzz.jsonl", data, std::io::sink());
    let _ = block_on(run);
});

/// The memory store needs no reactor: a current-thread runtime without
/// I/O or timers is enough.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
    .block_on(f)
}
