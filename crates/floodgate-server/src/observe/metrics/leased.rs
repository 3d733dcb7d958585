//! The leased slices' metrics: what was taken, given back and wasted,
//! where leased decisions were made, and the calls they cost.

use super::primitives::{header, sample, single};
use super::store::Leased;

/// Writes the families of `leased`.
pub fn render(out: &mut String, leased: &Leased) {
    let st = leased.stats();
    single(
        out,
        "floodgate_leased_slices_taken_total",
        "Slices of leased limits taken from Redis.",
        "counter",
        st.slices_taken,
    );
    header(
        out,
        "floodgate_leased_units_total",
        "Units (request costs) of leased limits taken in slices, given back unused, and wasted (held unused and not given back: under-admission).",
        "counter",
    );
    for (outcome, v) in [
        ("taken", st.units_taken),
        ("returned", st.units_returned),
        ("wasted", st.units_wasted),
    ] {
        sample(
            out,
            "floodgate_leased_units_total",
            &[("outcome", outcome)],
            v,
        );
    }
    header(
        out,
        "floodgate_leased_decisions_total",
        "Requests with leased limits: decided here from slices (or a kept denial), or on Redis (a slice being taken again after a wait, the table full, Redis failing).",
        "counter",
    );
    for (place, v) in [
        ("local", st.decided_locally),
        ("store", st.decided_on_store),
    ] {
        sample(
            out,
            "floodgate_leased_decisions_total",
            &[("where", place)],
            v,
        );
    }
    header(
        out,
        "floodgate_leased_calls_total",
        "Calls that took slices for a request (take), renewed spent slices of keys in use at the tick (renew), or gave slices back (give_back).",
        "counter",
    );
    for (call, v) in [
        ("take", st.take_calls),
        ("renew", st.renew_calls),
        ("give_back", st.give_back_calls),
    ] {
        sample(out, "floodgate_leased_calls_total", &[("call", call)], v);
    }
    single(
        out,
        "floodgate_leased_slices_renewed_total",
        "Slices the tick asked to renew (spent while their lease ran, on keys in use).",
        "counter",
        st.renewed,
    );
    single(
        out,
        "floodgate_leased_waits_total",
        "Requests that waited for another request's take of a slice they needed (single flight), then decided again.",
        "counter",
        st.waited,
    );
    single(
        out,
        "floodgate_leased_held_units",
        "Units this replica holds in slices and has not admitted yet.",
        "gauge",
        leased.held_units(),
    );
    single(
        out,
        "floodgate_leased_keys",
        "Keys holding a slice or a kept denial.",
        "gauge",
        leased.keys() as u64,
    );
    single(
        out,
        "floodgate_leased_table_full_total",
        "Requests on a new key decided on Redis because the slice table was full.",
        "counter",
        st.table_full,
    );
}
