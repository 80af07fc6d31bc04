//! The pre-warmed pool (filled in a later step).

use super::launch::Phases;
use crate::domain::project::Project;
use crate::engine::Engine;
use crate::ops::{Context, OpError};
use super::TaskRecord;

/// The state words a pool container's runner writes before it is handed a task.
pub const WARMING: &str = "warming";
pub const READY: &str = "ready";

/// Hands `rec` a ready pool container of its project, when one fits: None to start it cold.
pub async fn claim(
    _engine: &Engine,
    _ctx: &Context,
    _p: &Project,
    _rec: &mut TaskRecord,
    _env: Option<&std::collections::BTreeMap<String, String>>,
    _ph: &mut Phases,
) -> Option<Result<TaskRecord, OpError>> {
    None
}

/// Keeps the pool (in the runner).
#[derive(Default)]
pub struct Keeper {
    removed: Vec<String>,
}

impl Keeper {
    /// One look at the pool: true while it is short of what is wanted (so the runner stays).
    pub async fn keep(&mut self, _engine: &Engine, _ctx: &Context, _open: &[TaskRecord]) -> bool {
        false
    }

    /// The pool containers removed since the last sweep (for its report).
    pub fn take_removed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.removed)
    }
}
