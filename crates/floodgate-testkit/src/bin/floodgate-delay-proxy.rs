//! `floodgate-delay-proxy --listen ADDR --target ADDR [--delay D] [--cut-file PATH]`:
//! runs a [`DelayProxy`] until killed (see `floodgate_testkit::delay_proxy`).
//!
//! Prints `listening on <addr>` once bound. While the `--cut-file` exists
//! the proxy is cut (a network partition); removing it heals. Usage errors
//! exit with code 2.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use floodgate_testkit::delay_proxy::parse_delay;
use floodgate_testkit::DelayProxy;

const USAGE: &str = "usage: floodgate-delay-proxy --listen ADDR --target ADDR \
[--delay 40ms|1s|0] [--cut-file PATH]";

/// How often the cut file is looked at.
const CUT_POLL: Duration = Duration::from_millis(20);

struct Args {
    listen: SocketAddr,
    target: SocketAddr,
    delay: Duration,
    cut_file: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut listen, mut target, mut delay, mut cut_file) = (None, None, Duration::ZERO, None);
    while let Some(flag) = args.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (flag, None),
        };
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if !["--listen", "--target", "--delay", "--cut-file"].contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag:?}"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let addr = |v: &str| {
            v.parse::<SocketAddr>()
                .map_err(|e| format!("{flag}: {v:?}: {e}"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(addr(&value)?),
            "--target" => target = Some(addr(&value)?),
            "--delay" => {
                delay =
                    parse_delay(&value).ok_or_else(|| format!("--delay: bad delay {value:?}"))?
            }
            _ => cut_file = Some(PathBuf::from(value)),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        target: target.ok_or("--target is required")?,
        delay,
        cut_file,
    })
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("floodgate-delay-proxy: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let proxy = match DelayProxy::start(args.listen, args.target, args.delay) {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("floodgate-delay-proxy: listen on {}: {e}", args.listen);
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", proxy.addr());
    let _ = out.flush();
    drop(out);
    loop {
        match &args.cut_file {
            Some(path) => {
                let cut = path.exists();
                if cut != proxy.is_cut() {
                    if cut {
                        proxy.cut();
                    } else {
                        proxy.heal();
                    }
                }
                std::thread::sleep(CUT_POLL);
            }
            None => std::thread::park(),
        }
    }
}
