//! The decision API's HTTP/1.1 lane: what it takes for a plain
//! `POST /v1/check` out of arbitrary bytes. A plain request's head must be
//! a whole HTTP/1.1 head within the bounds, and its body within
//! `max_body`; anything else is left to hyper.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MAX_HEAD: usize = 8192;
const MAX_BODY: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((head, length)) = floodgate_server::net::plain_check(data, MAX_HEAD, MAX_BODY)
    else {
        return;
    };
    assert!(head <= data.len() && head <= MAX_HEAD, "head {head}");
    assert!(length as u64 <= MAX_BODY, "body {length}");
    // The head is what it says: ends with an empty line, starts with the
    // route's request line.
    let h = &data[..head];
    assert!(h.ends_with(b"\n\n") || h.ends_with(b"\n\r\n"), "{h:?}");
    let line_start = h.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(0);
    assert!(h[line_start..].starts_with(b"POST /v1/check"), "{h:?}");
});
