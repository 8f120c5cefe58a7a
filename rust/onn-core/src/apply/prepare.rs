//! A plan with what it was made from: inspected and planned now, or made earlier and checked
//! against the system as it is now.

use anyhow::Result;

use super::Prepared;
use crate::ground::error::precondition;
use crate::ground::runner::Runner;
use crate::inspect::inspect;
use crate::plan::{self, Plan, Request};

/// Inspect and plan.
pub fn prepare<'r>(runner: &'r dyn Runner, req: &Request) -> Result<Prepared<'r>> {
    let (facts, image) = inspect(runner, req)?;
    let plan = plan::plan(req, &facts)?;
    Ok(Prepared {
        runner,
        image,
        plan,
    })
}

/// Apply a plan made earlier (e.g. shown to a user): the system is inspected again and the
/// plan must still be what it would be now. The pool's free space is a measurement, not a
/// decision: a freshly made ext4 keeps writing its inode tables in the background, so it may
/// differ (planning again has checked it still fits).
pub fn prepare_again<'r>(runner: &'r dyn Runner, earlier: &Plan) -> Result<Prepared<'r>> {
    let now = prepare(runner, &earlier.request)?;
    let same = Plan {
        pool_free_after: now.plan.pool_free_after,
        ..earlier.clone()
    };
    if now.plan != same {
        let (a, b) = (
            serde_json::to_value(&now.plan)?,
            serde_json::to_value(&same)?,
        );
        let changed: Vec<&str> = match (a.as_object(), b.as_object()) {
            (Some(a), Some(b)) => a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k.as_str())
                .collect(),
            _ => Vec::new(),
        };
        return Err(precondition(
            "plan.stale",
            format!(
                "the system changed since this plan was made ({} differ); inspect and plan again",
                changed.join(", ")
            ),
        ));
    }
    Ok(now)
}
