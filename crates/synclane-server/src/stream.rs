//! Change notifications for the live streams: a broadcast of `(workspace, version)` that
//! every open stream filters for its own workspace.

use std::sync::Arc;
use tokio::sync::broadcast;

/// What streams hear: a workspace moved to a version (`None`: every workspace may have moved,
/// e.g. after the notification connection dropped).
#[derive(Debug, Clone)]
pub struct Notice {
    pub workspace: Option<Arc<str>>,
    pub version: u64,
}

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Notice>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { sender: broadcast::channel(1024).0 }
    }
}

impl Hub {
    pub fn publish(&self, workspace: &str, version: u64) {
        // No receiver is not an error: nobody streams this instance right now.
        let _ = self.sender.send(Notice { workspace: Some(workspace.into()), version });
    }

    pub fn publish_all(&self) {
        let _ = self.sender.send(Notice { workspace: None, version: 0 });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.sender.subscribe()
    }
}
