//! synclane for the browser: the WebAssembly boundary over `synclane-core`.
//!
//! Each module here is thin: it converts JavaScript values into core types, calls the core,
//! and converts the answer back. Decisions are made in the core, never here.

mod clock;
mod engine;
mod error;
mod idb;
mod interop;
mod memory_server;
mod payload;
mod policy;
mod query;
mod store;

pub use clock::SyncClock;
pub use engine::EngineCore;
pub use error::to_js_error;
pub use memory_server::MemorySyncServer;
pub use synclane_core as core;
