//! The outbox model: what happens to a local write between its capture and its acknowledgement.
//!
//! The browser stores entries in IndexedDB and the simulations keep them in memory, but both
//! make their decisions here: how a new write coalesces with a waiting one, which entries form
//! the next batch, and what a push outcome does to each entry (remove, retry later, fail).
//!
//! Rules:
//! - A write to a record whose op is still waiting (pending or failed) replaces it: the later
//!   op carries the record's whole new state and a higher clock, so put+put = last put,
//!   put+delete = delete, delete+put = put. The entry keeps its place in the queue.
//! - An op being pushed (in flight) is never changed under the push: the new write queues
//!   behind it as its own entry.
//! - Transient errors back off (250, 1000, 3000, 5000 ms by default, then 5000, each with
//!   jitter); after `max_attempts` the op is failed. Permanent errors fail it at once. A failed op
//!   stays until the app retries or discards it: nothing is dropped silently.
//!
//! The model of an entry and its coalescing is `entry`, the retry schedule and what a push
//! outcome does to an entry `retry`, the limits and the choice of a batch `batch`, and the
//! in-memory outbox that follows these rules `memory`.

mod batch;
mod entry;
mod memory;
mod retry;

pub use batch::{select_batch, OutboxConfig};
pub use entry::{coalesce, coalesce_with, newest_stamp, Coalesce, OpState, OutboxEntry};
pub use memory::{CaptureOutcome, Outbox, OutboxCounts};
pub use retry::{transition, PushOutcome, RetryPolicy, Transition};

#[cfg(test)]
mod tests;
