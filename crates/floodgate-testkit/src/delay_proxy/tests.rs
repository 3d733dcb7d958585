use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{parse_delay, DelayProxy};

/// The longest any test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(5);

/// A std echo server on loopback; counts the connections it accepted.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

fn echo_server() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Echo { addr, accepted }
}

fn proxy(echo: &Echo, delay: Duration) -> DelayProxy {
    DelayProxy::start("127.0.0.1:0".parse().unwrap(), echo.addr, delay).unwrap()
}

fn connect(proxy: &DelayProxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads exactly `len` bytes, or fails the test after [`PATIENCE`].
fn read_len(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0; len];
    stream.read_exact(&mut got).expect("the echo came back");
    got
}

/// Whether the stream ends (EOF or an error, not a timeout) in time.
fn ends(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 64];
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // Bytes still in flight from before: keep reading.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

fn echoes(proxy: &DelayProxy) {
    let mut stream = connect(proxy);
    stream.write_all(b"ping").unwrap();
    assert_eq!(read_len(&mut stream, 4), b"ping");
}

#[test]
fn delays_each_direction_and_keeps_order() {
    let echo = echo_server();
    let proxy = proxy(&echo, Duration::from_millis(50));
    let mut stream = connect(&proxy);
    let parts: [&[u8]; 4] = [b"one ", b"two ", b"three ", b"four"];
    let start = Instant::now();
    for part in parts {
        stream.write_all(part).unwrap();
        thread::sleep(Duration::from_millis(3));
    }
    let mut first = [0; 1];
    stream.read_exact(&mut first).unwrap();
    let first_byte = start.elapsed();
    let rest = read_len(&mut stream, parts.concat().len() - 1);
    assert!(
        first_byte >= Duration::from_millis(100),
        "round trip took {first_byte:?}"
    );
    assert_eq!([&first[..], &rest].concat(), parts.concat());
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.delay(), Duration::from_millis(50));
}

#[test]
fn set_delay_applies_to_later_chunks() {
    let echo = echo_server();
    let proxy = proxy(&echo, Duration::ZERO);
    let mut stream = connect(&proxy);
    proxy.set_delay(Duration::from_millis(40));
    let start = Instant::now();
    stream.write_all(b"late").unwrap();
    assert_eq!(read_len(&mut stream, 4), b"late");
    assert!(start.elapsed() >= Duration::from_millis(80));
}

#[test]
fn without_delay_echoes() {
    let echo = echo_server();
    let proxy = proxy(&echo, Duration::ZERO);
    let mut stream = connect(&proxy);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = stream.try_clone().unwrap();
    let sent = big.clone();
    let sender = thread::spawn(move || writer.write_all(&sent).unwrap());
    assert_eq!(read_len(&mut stream, big.len()), big);
    sender.join().unwrap();
    echoes(&proxy);
}

#[test]
fn forwards_half_close() {
    let echo = echo_server();
    let proxy = proxy(&echo, Duration::from_millis(10));
    let mut stream = connect(&proxy);
    stream.write_all(b"bye").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_len(&mut stream, 3), b"bye");
    assert!(ends(&mut stream), "the server's close came through");
    wait_for("the connection to go", || proxy.connections() == 0);
}

#[test]
fn cut_closes_and_refuses_until_heal() {
    let echo = echo_server();
    let proxy = proxy(&echo, Duration::from_millis(20));
    let mut live = connect(&proxy);
    live.write_all(b"hi").unwrap();
    assert_eq!(read_len(&mut live, 2), b"hi");
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 1);

    proxy.cut();
    assert!(proxy.is_cut());
    assert_eq!(proxy.connections(), 0);
    assert!(ends(&mut live), "a live connection ends at the cut");

    let mut refused = connect(&proxy);
    let start = Instant::now();
    let _ = refused.write_all(b"hello?");
    assert!(ends(&mut refused), "a new connection is closed");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 1, "not forwarded");
    assert_eq!(proxy.connections(), 0);

    proxy.heal();
    assert!(!proxy.is_cut());
    echoes(&proxy);
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn drop_stops_listening_and_closes() {
    let echo = echo_server();
    let proxy = proxy(&echo, Duration::from_millis(5));
    let addr = proxy.addr();
    let mut live = connect(&proxy);
    live.write_all(b"x").unwrap();
    assert_eq!(read_len(&mut live, 1), b"x");
    drop(proxy);
    assert!(ends(&mut live), "connections end with the proxy");
    // The listener closed when `drop` joined the accept thread, just now.
    assert!(TcpStream::connect(addr).is_err(), "nobody listens any more");
}

#[test]
fn dead_target_closes_the_client() {
    // Nothing can listen on port 0 (a freed port could be taken again by
    // a test running alongside), so connecting to it is refused.
    let dead: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let proxy = DelayProxy::start("127.0.0.1:0".parse().unwrap(), dead, Duration::ZERO).unwrap();
    let mut stream = connect(&proxy);
    assert!(ends(&mut stream));
    wait_for("the connection to go", || proxy.connections() == 0);
}

#[test]
fn parses_delays() {
    assert_eq!(parse_delay("40ms"), Some(Duration::from_millis(40)));
    assert_eq!(parse_delay("1s"), Some(Duration::from_secs(1)));
    assert_eq!(parse_delay("250us"), Some(Duration::from_micros(250)));
    assert_eq!(parse_delay("0"), Some(Duration::ZERO));
    assert_eq!(parse_delay("0ms"), Some(Duration::ZERO));
    for bad in ["", "40", "ms", "-1s", "1.5s", "4 0ms", "10m"] {
        assert_eq!(parse_delay(bad), None, "{bad:?}");
    }
}
