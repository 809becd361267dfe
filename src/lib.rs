//! synclane for the browser: the WebAssembly boundary over `synclane-core`.
pub use synclane_core as core;
