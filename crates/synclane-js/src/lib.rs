//! synclane's JavaScript boundary, shared by its wasm modules (the engine, and the in-memory
//! server on its own entry point): conversions between JavaScript values and core types, and
//! how a core error reaches JavaScript. It exports nothing to JavaScript itself, so each module
//! links only what it uses.

pub mod error;
pub mod interop;
#[cfg(target_family = "wasm")]
mod random;
pub mod read;
pub mod write;

pub use error::to_js_error;

// Every synclane wasm module allocates with Talc rather than the standard library's dlmalloc:
// a fraction of its code in the module (about 3 KB of the engine's, gzipped), and fast at the
// small, short-lived allocations a batch makes.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
