//! "Two limits never share a counter": one suite every store runs, over
//! limits named by the caller (property tests generate the names).

use std::sync::Arc;
use std::time::Duration;

use crate::failure::Failure;
use floodgate_core::policy::Limit;
use floodgate_core::{LimitCheck, Quota, Store, Timestamp};

/// Where a limit lives: its rule, the tier of an override, and its name.
pub type LimitSpec = (String, Option<String>, String);

/// Checks that the limits `a` and `b` keep apart on `store`: when their
/// specs differ, their ids differ, and using up `a` (a limit of 1 an hour,
/// for one identity in `namespace`) leaves `b` untouched.
pub async fn limits_stay_apart(
    store: &dyn Store,
    namespace: &str,
    a: &LimitSpec,
    b: &LimitSpec,
) -> Result<(), Failure> {
    if a == b {
        return Ok(());
    }
    let quota = Quota::fixed_window(1, Duration::from_secs(3_600)).expect("valid quota");
    let limit = |s: &LimitSpec| Limit::new(&s.0, s.1.as_deref(), &s.2, quota);
    let (la, lb) = (limit(a), limit(b));
    if la.id == lb.id {
        return Err(format!("{a:?} and {b:?} share the id {}", la.id).into());
    }
    let identity: Arc<str> = Arc::from(format!("{namespace}|who"));
    let check = |l: &Limit| LimitCheck::new(l.id.clone(), identity.clone(), quota, 1);
    let now = Timestamp::from_micros(crate::BASE_US);
    let decide = |c: LimitCheck| async move {
        let d = store
            .check(std::slice::from_ref(&c), now)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<bool, String>(d[0].allowed)
    };
    if !decide(check(&la)).await? || decide(check(&la)).await? {
        return Err(format!("{}: the first request passes, the second does not", la.id).into());
    }
    if !decide(check(&lb)).await? {
        return Err(format!("{} ({b:?}) was used up by {} ({a:?})", lb.id, la.id).into());
    }
    Ok(())
}
