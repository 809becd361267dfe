//! The randomness of every synclane wasm module: `crypto.getRandomValues`, which browsers,
//! workers and Node.js all have, as getrandom's source on `wasm32-unknown-unknown` (uhlc's
//! random clock ids and the engine's op ids draw from it).

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<(), JsValue>;
}

/// `getRandomValues` fills at most this many bytes a call.
const MAX_CHUNK: usize = 65_536;

fn fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    for chunk in buf.chunks_mut(MAX_CHUNK) {
        get_random_values(chunk).map_err(|_| getrandom::Error::WEB_GET_RANDOM_VALUES)?;
    }
    Ok(())
}

getrandom::register_custom_getrandom!(fill);
