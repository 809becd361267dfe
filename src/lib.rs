//! synclane for the browser: the WebAssembly boundary over `synclane-core`.
//!
//! Each module here is thin: it converts JavaScript values into core types, calls the core,
//! and converts the answer back. Decisions are made in the core, never here. The conversions
//! themselves live in `synclane-js`, shared with the in-memory server's module
//! (`synclane-memory`).

mod changes;
mod clock;
mod engine;
mod idb;
mod options;
mod payload;
mod policy;
mod query;
mod results;
mod store;

pub use clock::SyncClock;
pub use engine::EngineCore;
pub use synclane_core as core;
pub use synclane_js::to_js_error;
