//! The cursor state machine. One cursor per workspace: the highest server version whose
//! changes are all stored locally. It only ever moves forward, with one explicit exception: a
//! rescan that finds the server reset (it holds fewer versions than the cursor counts, or its
//! data set has another epoch) takes the server's head as the new baseline
//! ([`CursorState::complete_reset`]), since the old count names versions that no longer exist.
//!
//! ```text
//! ColdStart --begin_bootstrap--> Bootstrapping --last page--> Live
//!     Live / Bootstrapping --expire--> Expired --begin_rescan--> Rescanning --complete--> Live
//!                                         ^------------- abort_rescan ---------|
//! ```
//! A bootstrap commits each page with its cursor, so an interrupted bootstrap resumes from
//! where it stopped. A rescan stages its data apart and only swaps it in at the end, so an
//! interrupted rescan leaves the old data and starts again.

use crate::error::{SyncError, SyncResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CursorPhase {
    /// Nothing pulled yet.
    ColdStart,
    /// Pulling the workspace page by page for the first time.
    Bootstrapping,
    /// Caught up; following live changes.
    Live,
    /// The server no longer has the changes after our cursor; a rescan is needed.
    Expired,
    /// Pulling the full current set into a staging area.
    Rescanning,
}

impl CursorPhase {
    const ALL: [CursorPhase; 5] = [
        CursorPhase::ColdStart,
        CursorPhase::Bootstrapping,
        CursorPhase::Live,
        CursorPhase::Expired,
        CursorPhase::Rescanning,
    ];

    /// The stable wire name, e.g. `coldStart` (as the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            CursorPhase::ColdStart => "coldStart",
            CursorPhase::Bootstrapping => "bootstrapping",
            CursorPhase::Live => "live",
            CursorPhase::Expired => "expired",
            CursorPhase::Rescanning => "rescanning",
        }
    }

    pub fn parse(name: &str) -> Option<CursorPhase> {
        CursorPhase::ALL.into_iter().find(|phase| phase.as_str() == name)
    }
}

/// What a page did to the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The cursor moved to this version.
    Moved(u64),
    /// The page ended at or before the cursor (a duplicate or a late delivery): ignored.
    Stale,
}

/// The persisted cursor state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorState {
    pub phase: CursorPhase,
    pub cursor: u64,
}

impl Default for CursorState {
    fn default() -> Self {
        CursorState { phase: CursorPhase::ColdStart, cursor: 0 }
    }
}

impl CursorState {
    /// The state to resume from after a restart: an interrupted rescan starts over (its staged
    /// data is discarded), everything else carries on where it was.
    pub fn resume(saved: CursorState) -> CursorState {
        match saved.phase {
            CursorPhase::Rescanning => CursorState { phase: CursorPhase::Expired, ..saved },
            _ => saved,
        }
    }

    pub fn begin_bootstrap(&mut self) -> SyncResult<()> {
        self.require(&[CursorPhase::ColdStart, CursorPhase::Bootstrapping], "begin a bootstrap")?;
        self.phase = CursorPhase::Bootstrapping;
        Ok(())
    }

    /// Records that every change up to `next_cursor` is stored. During a bootstrap the last page
    /// (`has_more == false`) makes the cursor live.
    pub fn apply_page(&mut self, next_cursor: u64, has_more: bool) -> SyncResult<Advance> {
        self.require(&[CursorPhase::Bootstrapping, CursorPhase::Live], "apply a page")?;
        if self.phase == CursorPhase::Bootstrapping && !has_more {
            self.phase = CursorPhase::Live;
        }
        if next_cursor <= self.cursor {
            return Ok(Advance::Stale);
        }
        self.cursor = next_cursor;
        Ok(Advance::Moved(next_cursor))
    }

    /// The provider said the cursor is older than its retention floor.
    pub fn expire(&mut self) -> SyncResult<()> {
        self.require(&[CursorPhase::Bootstrapping, CursorPhase::Live, CursorPhase::Expired], "expire")?;
        self.phase = CursorPhase::Expired;
        Ok(())
    }

    pub fn begin_rescan(&mut self) -> SyncResult<()> {
        self.require(&[CursorPhase::Expired, CursorPhase::Rescanning], "begin a rescan")?;
        self.phase = CursorPhase::Rescanning;
        Ok(())
    }

    /// The staged set was swapped in; it covers everything up to `snapshot_cursor`. The cursor
    /// still never moves backwards: a snapshot older than the cursor keeps the cursor.
    pub fn complete_rescan(&mut self, snapshot_cursor: u64) -> SyncResult<Advance> {
        self.require(&[CursorPhase::Rescanning], "complete a rescan")?;
        self.phase = CursorPhase::Live;
        if snapshot_cursor <= self.cursor {
            return Ok(Advance::Stale);
        }
        self.cursor = snapshot_cursor;
        Ok(Advance::Moved(snapshot_cursor))
    }

    /// The staged set was swapped in after a server reset: the cursor becomes the snapshot's,
    /// even when lower (see the module docs; [`CursorState::server_was_reset`] tells).
    pub fn complete_reset(&mut self, snapshot_cursor: u64) -> SyncResult<Advance> {
        self.require(&[CursorPhase::Rescanning], "complete a rescan")?;
        self.phase = CursorPhase::Live;
        self.cursor = snapshot_cursor;
        Ok(Advance::Moved(snapshot_cursor))
    }

    /// Whether a rescan's snapshot comes from a server that lost what this cursor counts:
    /// its head is below the cursor (server versions only rise, so a lower head means versions
    /// handed out before are gone), or it names another epoch than the one the cursor was
    /// counted in. An epoch unknown on either side proves nothing.
    pub fn server_was_reset(
        &self,
        snapshot_cursor: u64,
        known_epoch: Option<&str>,
        snapshot_epoch: Option<&str>,
    ) -> bool {
        snapshot_cursor < self.cursor
            || known_epoch.zip(snapshot_epoch).is_some_and(|(known, now)| known != now)
    }

    /// Checks that a page of changes counts in the epoch the cursor counts in (see
    /// [`CursorState::server_was_reset`]); another one means the server's data was replaced,
    /// and the device must rescan rather than apply the page.
    pub fn check_epoch(known_epoch: Option<&str>, page_epoch: Option<&str>) -> SyncResult<()> {
        match known_epoch.zip(page_epoch) {
            Some((known, now)) if known != now => Err(SyncError::new(
                crate::ErrorCode::CursorExpired,
                format!(
                    "the server's data was reset: its epoch is {} and the cursor counts in {}",
                    crate::Quoted(now),
                    crate::Quoted(known)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The rescan stopped before its swap; the old data stays and the rescan starts over.
    pub fn abort_rescan(&mut self) -> SyncResult<()> {
        self.require(&[CursorPhase::Rescanning], "abort a rescan")?;
        self.phase = CursorPhase::Expired;
        Ok(())
    }

    /// Whether the next sync has to pull the whole workspace rather than the changes after
    /// the cursor.
    pub fn needs_full_pull(&self) -> bool {
        !matches!(self.phase, CursorPhase::Live)
    }

    fn require(&self, allowed: &[CursorPhase], action: &str) -> SyncResult<()> {
        if allowed.contains(&self.phase) {
            Ok(())
        } else {
            Err(SyncError::invalid_argument(format!("cannot {action} while the cursor is {:?}", self.phase)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phase_wire_names_are_the_serde_names_and_parse_back() {
        for phase in CursorPhase::ALL {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
            assert_eq!(CursorPhase::parse(phase.as_str()), Some(phase));
        }
        assert_eq!(CursorPhase::parse("Live"), None);
    }

    #[test]
    fn cold_start_bootstraps_page_by_page_then_goes_live() {
        let mut state = CursorState::default();
        assert!(state.needs_full_pull());
        state.begin_bootstrap().unwrap();
        assert_eq!(state.apply_page(100, true).unwrap(), Advance::Moved(100));
        assert_eq!(state.phase, CursorPhase::Bootstrapping);
        assert_eq!(state.apply_page(250, false).unwrap(), Advance::Moved(250));
        assert_eq!(state.phase, CursorPhase::Live);
        assert!(!state.needs_full_pull());
    }

    #[test]
    fn an_interrupted_bootstrap_resumes_from_its_committed_cursor() {
        let saved = CursorState { phase: CursorPhase::Bootstrapping, cursor: 100 };
        let mut state = CursorState::resume(saved);
        state.begin_bootstrap().unwrap();
        assert_eq!(state.cursor, 100);
    }

    #[test]
    fn the_cursor_never_moves_backwards() {
        let mut state = CursorState { phase: CursorPhase::Live, cursor: 50 };
        assert_eq!(state.apply_page(40, false).unwrap(), Advance::Stale);
        assert_eq!(state.apply_page(50, false).unwrap(), Advance::Stale);
        assert_eq!(state.cursor, 50);
        state.expire().unwrap();
        state.begin_rescan().unwrap();
        assert_eq!(state.complete_rescan(10).unwrap(), Advance::Stale);
        assert_eq!((state.phase, state.cursor), (CursorPhase::Live, 50));
    }

    #[test]
    fn expiry_leads_to_a_rescan_and_an_interrupted_rescan_starts_over() {
        let mut state = CursorState { phase: CursorPhase::Live, cursor: 5 };
        state.expire().unwrap();
        assert!(state.needs_full_pull());
        assert!(state.apply_page(9, false).is_err(), "no incremental pages while expired");
        state.begin_rescan().unwrap();
        let resumed = CursorState::resume(state);
        assert_eq!(resumed.phase, CursorPhase::Expired);
        let mut state = resumed;
        state.begin_rescan().unwrap();
        state.abort_rescan().unwrap();
        assert_eq!(state.phase, CursorPhase::Expired);
        state.begin_rescan().unwrap();
        assert_eq!(state.complete_rescan(80).unwrap(), Advance::Moved(80));
        assert_eq!(state.phase, CursorPhase::Live);
    }

    #[test]
    fn a_reset_takes_the_servers_head_as_the_new_baseline() {
        let mut state = CursorState { phase: CursorPhase::Live, cursor: 50 };
        assert!(state.server_was_reset(10, None, None), "a head below the cursor");
        assert!(state.server_was_reset(90, Some("a"), Some("b")), "another epoch, whatever the head");
        assert!(!state.server_was_reset(50, Some("a"), Some("a")));
        assert!(!state.server_was_reset(60, None, Some("b")), "a first epoch proves nothing");
        assert!(state.complete_reset(10).is_err(), "only a rescan completes");
        state.expire().unwrap();
        state.begin_rescan().unwrap();
        assert_eq!(state.complete_reset(10).unwrap(), Advance::Moved(10));
        assert_eq!((state.phase, state.cursor), (CursorPhase::Live, 10));
        assert_eq!(
            state.apply_page(12, false).unwrap(),
            Advance::Moved(12),
            "pages count from the new baseline"
        );
        assert!(CursorState::check_epoch(Some("a"), Some("a")).is_ok());
        assert!(CursorState::check_epoch(None, Some("a")).is_ok());
        assert!(CursorState::check_epoch(Some("a"), None).is_ok());
        let err = CursorState::check_epoch(Some("a"), Some("b")).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::CursorExpired);
        assert!(err.message.contains("reset"), "{}", err.message);
    }

    #[test]
    fn invalid_transitions_are_typed_errors() {
        let mut cold = CursorState::default();
        assert!(cold.apply_page(1, false).is_err());
        assert!(cold.begin_rescan().is_err());
        assert!(cold.complete_rescan(1).is_err());
        assert!(cold.abort_rescan().is_err());
        assert!(cold.expire().is_err());
        let mut live = CursorState { phase: CursorPhase::Live, cursor: 1 };
        assert!(live.begin_bootstrap().is_err());
        assert_eq!(live.begin_rescan().unwrap_err().code, crate::ErrorCode::InvalidArgument);
    }

    proptest! {
        #[test]
        fn any_sequence_of_events_keeps_the_cursor_monotonic(events in proptest::collection::vec((0u8..7, 0u64..1000, any::<bool>()), 0..80)) {
            let mut state = CursorState::default();
            let mut high = 0;
            for (kind, version, more) in events {
                let _ = match kind {
                    0 => state.begin_bootstrap().map(|_| ()),
                    1 => state.apply_page(version, more).map(|_| ()),
                    2 => state.expire(),
                    3 => state.begin_rescan(),
                    4 => state.complete_rescan(version).map(|_| ()),
                    5 => state.abort_rescan(),
                    _ => state.complete_reset(version).map(|_| ()).inspect(|_| high = state.cursor),
                };
                // Only a completed reset moves it back, and only to the server's head.
                prop_assert!(state.cursor >= high);
                high = state.cursor;
            }
        }
    }
}
