use std::sync::Arc;

use http::Method;

use super::*;

fn route() -> FastRoute {
    let handler: super::super::fast::Handler =
        Arc::new(|_, _, _| Box::pin(async { Response::new(Body::empty()) }));
    FastRoute::new(Method::POST, "/v1/check", handler)
}

const MAX_HEAD: usize = 8192;
const MAX_BODY: u64 = 1000;

fn parsed(req: &str) -> Parsed {
    parse(req.as_bytes(), &route(), MAX_HEAD, MAX_BODY)
}

#[test]
fn a_plain_check_is_the_lanes_with_its_lengths_and_token() {
    let head = "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\
                Authorization: Bearer abc\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(
        parsed(&format!("{head}{{}}")),
        Parsed::Plain {
            head: head.len(),
            length: 2,
            authorization: Some(HeaderValue::from_static("Bearer abc")),
        }
    );
    // A query string does not change the route, as on the router.
    let q = "POST /v1/check?x=1 HTTP/1.1\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(
        parsed(q),
        Parsed::Plain {
            head: q.len(),
            length: 0,
            authorization: None
        }
    );
}

#[test]
fn a_head_not_whole_yet_is_partial() {
    assert_eq!(parsed(""), Parsed::Partial);
    assert_eq!(
        parsed("POST /v1/check HTTP/1.1\r\nContent-Le"),
        Parsed::Partial
    );
}

#[test]
fn anything_not_plain_is_hypers() {
    for req in [
        "GET /v1/check HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
        "POST /v1/checks HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
        "POST /v1/check HTTP/1.0\r\ncontent-length: 0\r\n\r\n",
        "POST http://x/v1/check HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
        // No length, two lengths, a length that is not digits, too long.
        "POST /v1/check HTTP/1.1\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: +2\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 1001\r\n\r\n",
        // Framing and connection semantics hyper knows.
        "POST /v1/check HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 2\r\nupgrade: h2c\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 2\r\nconnection: close\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\ncontent-length: 2\r\nauthorization: a\r\nauthorization: b\r\n\r\n",
        // Malformed.
        "POST /v1/check HTTP/1.1\r\nbad header\r\n\r\n",
        "POST  /v1/check HTTP/9.9\r\n\r\n",
    ] {
        assert_eq!(parsed(req), Parsed::Other, "{req:?}");
    }
}

#[test]
fn a_head_past_max_head_or_with_too_many_lines_is_hypers() {
    let long = format!(
        "POST /v1/check HTTP/1.1\r\ncontent-length: 0\r\nx: {}\r\n\r\n",
        "a".repeat(MAX_HEAD)
    );
    assert_eq!(parsed(&long), Parsed::Other);
    // Not whole, but already past the bound: hyper answers 431.
    assert_eq!(parsed(&long[..MAX_HEAD + 10]), Parsed::Other);
    let many: String = (0..MAX_HEADERS).map(|i| format!("x{i}: y\r\n")).collect();
    let req = format!("POST /v1/check HTTP/1.1\r\ncontent-length: 0\r\n{many}\r\n");
    assert_eq!(parsed(&req), Parsed::Other);
}

#[test]
fn content_lengths_are_plain_digits() {
    assert_eq!(digits(b"0"), Some(0));
    assert_eq!(digits(b"007"), Some(7));
    assert_eq!(digits(b"123456789012345678"), Some(123_456_789_012_345_678));
    for bad in [&b""[..], b"-1", b"1 2", b"0x10", b"1234567890123456789"] {
        assert_eq!(digits(bad), None, "{bad:?}");
    }
}

#[tokio::test]
async fn an_answer_is_one_http_message_with_its_length_and_date() {
    let mut answer = Response::new(Body::from("{\"a\":1}"));
    *answer.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
    answer
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    // A length set by the handler is replaced by the body's own.
    answer
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("99"));
    let mut out = Vec::new();
    encode(answer, true, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "{\"a\":1}");
    let mut lines = head.split("\r\n");
    assert_eq!(lines.next(), Some("HTTP/1.1 429 Too Many Requests"));
    let lines: Vec<&str> = lines.collect();
    assert!(
        lines.contains(&"content-type: application/json"),
        "{lines:?}"
    );
    assert!(lines.contains(&"content-length: 7"), "{lines:?}");
    assert!(lines.contains(&"connection: close"), "{lines:?}");
    let date = lines.iter().find_map(|l| l.strip_prefix("date: ")).unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    assert_eq!(lines.len(), 4, "{lines:?}");
}

#[test]
fn mangled_requests_never_panic_and_plain_ones_stay_in_bounds() {
    let base = "POST /v1/check?a=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\
                Authorization: Bearer x\r\nConnection: keep-alive\r\n\r\n{\"attributes\":{}}";
    // A small deterministic generator: no dependency, the same cases
    // every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let route = route();
    for _ in 0..20_000 {
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % bytes.len();
            match next() % 4 {
                0 => bytes[at] = next() as u8,
                1 => bytes.insert(at, b"\r\n:0 "[(next() % 5) as usize]),
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
            if bytes.is_empty() {
                bytes.push(b'P');
            }
        }
        if let Parsed::Plain { head, length, .. } = parse(&bytes, &route, MAX_HEAD, MAX_BODY) {
            assert!(head <= bytes.len() && head <= MAX_HEAD, "{bytes:?}");
            assert!(length as u64 <= MAX_BODY, "{bytes:?}");
        }
    }
}

#[test]
fn the_end_of_a_head_is_found_in_the_new_bytes_only() {
    let head = b"POST /v1/check HTTP/1.1\r\nHost: t\r\n\r\n";
    // Whole, wherever the scan resumes before its empty line.
    for from in [1, 20, head.len() - 4, head.len() - 3, head.len() - 2] {
        assert!(head_ended(head, from), "from {from}");
    }
    // Bare line feeds, as httparse takes them.
    assert!(head_ended(b"POST / HTTP/1.1\nHost: t\n\n", 5));
    // Not whole: no empty line yet.
    assert!(!head_ended(b"POST / HTTP/1.1\r\nHost: t\r\n", 3));
    assert!(!head_ended(b"POST / HTTP/1.1\r\nHost: t\r\n\r", 3));
    // A scan past the buffer's end finds nothing and does not panic.
    assert!(!head_ended(b"ab", 10));
}

#[test]
fn query_bytes_hyper_refuses_are_hypers() {
    for q in ["a\"b", "<", ">"] {
        let req = format!("POST /v1/check?{q} HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(parsed(&req), Parsed::Other, "{req:?}");
    }
    let req = "POST /v1/check?a={}|^`\\ HTTP/1.1\r\ncontent-length: 0\r\n\r\n";
    assert!(matches!(parsed(req), Parsed::Plain { .. }), "{req:?}");
}
