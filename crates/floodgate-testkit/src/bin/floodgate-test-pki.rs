//! `floodgate-test-pki <dir>`: writes a test CA and the certificates it
//! signed into `<dir>` (for running the Redis tests over TLS: see
//! `floodgate_testkit::redis::TLS_SWITCH`).

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: floodgate-test-pki <dir>");
        std::process::exit(2);
    };
    let pki = floodgate_testkit::pki::Pki::in_dir(std::path::Path::new(&dir), "ci");
    println!("{}", pki.ca().display());
}
