//! The `RateLimitResponse` of a descriptor verdict, written straight into
//! its gRPC frame: the bytes prost writes for [`status::response`] (a test
//! holds them equal), without building the message first, whose limit
//! names and header keys and values are a dozen allocations a call, and
//! without computing each status' length twice.
//!
//! Fields are written as prost writes them: in the order of their tags,
//! scalars left out at their default (0), a message that is present
//! written even when empty.

use bytes::{BufMut, Bytes, BytesMut};
use floodgate_core::policy::{DescriptorVerdict, LimitOutcome};
use floodgate_core::Timestamp;
use floodgate_tower::headers;
use tonic_prost::prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

use super::status::{header_case, per_unit};

// envoy.service.ratelimit.v3.RateLimitResponse
const OVERALL_CODE: u32 = 1;
const STATUSES: u32 = 2;
const RESPONSE_HEADERS_TO_ADD: u32 = 3;
// RateLimitResponse.DescriptorStatus
const CODE: u32 = 1;
const CURRENT_LIMIT: u32 = 2;
const LIMIT_REMAINING: u32 = 3;
const DURATION_UNTIL_RESET: u32 = 4;
// RateLimitResponse.RateLimit
const NAME: u32 = 3;
const REQUESTS_PER_UNIT: u32 = 1;
const UNIT: u32 = 2;
// envoy.config.core.v3.HeaderValue
const KEY: u32 = 1;
const VALUE: u32 = 2;
// google.protobuf.Duration
const SECONDS: u32 = 1;
const NANOS: u32 = 2;

/// `Code::Ok` and `Code::OverLimit`.
const OK: u64 = 1;
const OVER_LIMIT: u64 = 2;

/// The gRPC message prefix: compressed flag and length.
const PREFIX: usize = 5;

/// The framed response to a request of `count` descriptors decided as
/// `v` at `now`: the bytes of `frame(&status::response(v, count, now))`.
pub fn response_frame(v: &DescriptorVerdict, count: usize, now: Timestamp) -> Bytes {
    let mut buf = BytesMut::with_capacity(64 + 64 * count + 160);
    buf.put_bytes(0, PREFIX);
    varint(&mut buf, OVERALL_CODE, code(v.verdict.allowed));
    let mut part = Vec::with_capacity(96);
    for i in 0..count {
        part.clear();
        let (allowed, speaking) = v.status(i);
        descriptor_status(&mut part, allowed, speaking);
        message(&mut buf, STATUSES, &part);
    }
    if let Some(o) = v.verdict.deciding() {
        headers::each_text(o, now, |name, text| {
            part.clear();
            string(&mut part, KEY, &[header_case(name.as_str())]);
            string(&mut part, VALUE, &[text]);
            message(&mut buf, RESPONSE_HEADERS_TO_ADD, &part);
        });
    }
    let len = u32::try_from(buf.len() - PREFIX).unwrap_or(u32::MAX);
    buf[1..PREFIX].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

fn code(allowed: bool) -> u64 {
    if allowed {
        OK
    } else {
        OVER_LIMIT
    }
}

/// A descriptor's status: its code, and for the limit that speaks (if
/// any) its `current_limit`, `limit_remaining` and `duration_until_reset`.
fn descriptor_status(out: &mut Vec<u8>, allowed: bool, speaking: Option<&LimitOutcome>) {
    varint(out, CODE, code(allowed));
    let Some(o) = speaking else {
        return;
    };
    let (requests_per_unit, unit) = per_unit(o.decision.limit, o.quota.window_secs());
    let name = [&*o.rule, "/", &*o.limit];
    let name_len: usize = name.iter().map(|s| s.len()).sum();
    let limit_len =
        field_len(name_len) + varint_len(u64::from(requests_per_unit)) + varint_len(unit as u64);
    encode_key(CURRENT_LIMIT, WireType::LengthDelimited, out);
    encode_varint(limit_len as u64, out);
    varint(out, REQUESTS_PER_UNIT, u64::from(requests_per_unit));
    varint(out, UNIT, unit as u64);
    string(out, NAME, &name);
    let remaining = u32::try_from(o.decision.remaining).unwrap_or(u32::MAX);
    varint(out, LIMIT_REMAINING, u64::from(remaining));
    let d = o.decision.reset_after;
    let seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX) as u64;
    let nanos = u64::from(d.subsec_nanos());
    encode_key(DURATION_UNTIL_RESET, WireType::LengthDelimited, out);
    encode_varint((varint_len(seconds) + varint_len(nanos)) as u64, out);
    varint(out, SECONDS, seconds);
    varint(out, NANOS, nanos);
}

/// A varint field, left out at 0.
fn varint(out: &mut impl BufMut, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(v, out);
    }
}

/// The bytes a varint field takes (0 when left out); tags are below 16,
/// so a key is one byte.
fn varint_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + encoded_len_varint(v)
    }
}

/// The bytes a length-delimited field of `len` bytes takes, when written.
fn field_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + encoded_len_varint(len as u64) + len
    }
}

/// A string field made of `parts` one after the other, left out when
/// empty.
fn string(out: &mut impl BufMut, tag: u32, parts: &[&str]) {
    let len: usize = parts.iter().map(|s| s.len()).sum();
    if len == 0 {
        return;
    }
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    for p in parts {
        out.put_slice(p.as_bytes());
    }
}

/// An embedded message field (written even when empty).
fn message(out: &mut impl BufMut, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.put_slice(bytes);
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
