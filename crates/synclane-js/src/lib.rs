//! synclane's JavaScript boundary, shared by its wasm modules (the engine, and the in-memory
//! server on its own entry point): conversions between JavaScript values and core types, and
//! how a core error reaches JavaScript. It exports nothing to JavaScript itself, so each module
//! links only what it uses.

pub mod error;
pub mod interop;
pub mod read;
pub mod write;

pub use error::to_js_error;
