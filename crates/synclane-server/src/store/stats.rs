//! The counts both databases answer for a workspace (its own file: the backends and the
//! `Store` that dispatches to them all use it, and none imports the others).

use serde::Serialize;

/// Counts for tests, operators and dashboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStats {
    pub version: u64,
    pub floor: u64,
    pub records: u64,
    pub tombstones: u64,
    pub devices: u64,
    /// Op ids remembered for deduplication.
    pub ops: u64,
}
