//! The pure core of synclane.
//!
//! Everything that *decides* lives here and runs natively under `cargo test`: stamps and the
//! conflict rule, the outbox model, the cursor state machine, the sync policy and status view,
//! the reconciliation plan, validation of incoming changes and the server-side rules of the
//! protocol. Nothing here knows about WebAssembly, JavaScript or IndexedDB; the browser engine
//! and the reference server are thin layers that move data and call these functions.

pub mod apply;
pub mod change;
pub mod conflict;
pub mod cursor;
pub mod echo;
pub mod error;
pub mod gc;
pub mod hlc;
pub mod outbox;
pub mod plan;
pub mod policy;
pub mod reset;
pub mod server;
pub mod server_rules;
pub mod stamp;
pub mod status;
pub mod validate;

pub use conflict::{compare_versions, incoming_wins, VersionRef};
pub use error::{ErrorCode, Quoted, SyncError, SyncResult};
pub use stamp::{next_clock, ChangeStamp, OpKind};
