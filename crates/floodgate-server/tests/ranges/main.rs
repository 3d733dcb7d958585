//! Out-of-range numbers anywhere in the file (limits, capacities, rates,
//! `log.rejections_per_second`, timeouts, store sizes) are refused by
//! `floodgate check-config` with exit code 2 and the file and line of the
//! bad value: never a panic, never a silent clamp. The greatest (and
//! least) values in range load.

mod kit;
mod limits;
mod redis_store;
mod sections;
mod websocket;

use kit::*;

/// Every out-of-range case, table after table.
fn bad_cases() -> Vec<Case> {
    [
        limits::bad_limits(),
        limits::bad_rates(),
        sections::bad_server(),
        sections::bad_memory_store_and_dashboard(),
        websocket::bad_websocket(),
        redis_store::bad_connections(),
        redis_store::bad_local_and_breaker(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every config at the bounds, table after table.
fn good_cases() -> Vec<Good> {
    [
        limits::good_limits(),
        sections::good_server(),
        websocket::good_websocket(),
        redis_store::good_redis(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn out_of_range_numbers_are_refused_with_their_line_and_exit_2() {
    let wrong = refusals_that_went_wrong(&bad_cases());
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_bounds_themselves_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = good_cases();
    let mut wrong = Vec::new();
    for (label, yaml) in cases {
        let path = dir.path().join(format!("{label}.yaml"));
        std::fs::write(&path, &yaml).unwrap();
        let out = floodgate_check(&path);
        if out.status.code() != Some(0) {
            wrong.push(format!(
                "{label}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
