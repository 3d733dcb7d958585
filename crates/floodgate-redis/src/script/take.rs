//! The reply to a take (mode `t`): what each slice took, checked against
//! floodgate-core's own decision on the state the script returned.

use floodgate_core::algorithm::{self, State};
use floodgate_core::store::{SliceWant, Taken};
use floodgate_core::{StoreError, Timestamp};

use super::{bad, rebuild};

/// Decodes the reply to a take of `wants`: what each took, at the
/// script's time, with the decision of a request of that cost (of the
/// least asked for, denied, when nothing was taken).
pub(crate) fn decode_take(raw: &[i64], wants: &[&SliceWant]) -> Result<Vec<Taken>, StoreError> {
    let mut it = raw
        .iter()
        .map(|&v| u64::try_from(v).map_err(|_| bad(format!("negative value {v}"))));
    let mut next = || it.next().unwrap_or_else(|| Err(bad("too short")));
    let t = next()?;
    let now = Timestamp::from_micros(t);
    let mut out = Vec::with_capacity(wants.len());
    for w in wants {
        let n = next()?;
        let present = next()? == 1;
        let len = next()? as usize;
        let fields = (0..len).map(|_| next()).collect::<Result<Vec<u64>, _>>()?;
        let q = &w.check.quota;
        let mut state = if present {
            rebuild(q, &fields)?
        } else {
            State::fresh(q, now)
        };
        let cost = if n > 0 { n } else { w.check.cost };
        let decision = algorithm::evaluate(&mut state, now, cost, q);
        if decision.allowed != (n > 0)
            || (n > 0 && n < w.check.cost)
            || n > w.want.max(w.check.cost)
        {
            return Err(bad(format!(
                "the script took {n} of {q} (want {}, need {}) but floodgate-core {} it at {t} (state {fields:?})",
                w.want,
                w.check.cost,
                if decision.allowed { "allows" } else { "denies" },
            )));
        }
        out.push(Taken {
            n,
            at: now,
            decision,
            age_us: 0,
        });
    }
    Ok(out)
}
