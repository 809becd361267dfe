//! Browser tests of the wasm boundary (run by `wasm-pack test --headless --chrome`).

use js_sys::{Reflect, JSON};
use synclane_memory::MemorySyncServer;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn js(text: &str) -> JsValue {
    JSON::parse(text).expect("test JSON")
}

fn get(value: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(value.clone(), |v, key| {
        let key: JsValue = match key.parse::<u32>() {
            Ok(index) => index.into(),
            Err(_) => key.into(),
        };
        Reflect::get(&v, &key).expect("property")
    })
}

fn hlc_now() -> String {
    // A valid stamp for the current time: 16 hex digits of NTP64 time, a dash, a clock id.
    let ms = js_sys::Date::now() as u64;
    let ntp = ((ms / 1000) << 32) | (((ms % 1000) << 32) / 1000);
    format!("{ntp:016x}-0000000000000001")
}

fn put(pk: &str, clock: u64, op_id: &str) -> String {
    format!(
        r#"{{"tableName":"notes","pk":"{pk}","op":"put","payload":{{"id":"{pk}","title":"t-{op_id}"}},
            "stamp":{{"clock":{clock},"hlc":"{}","deviceId":"dev-a","opId":"{op_id}"}}}}"#,
        hlc_now()
    )
}

#[wasm_bindgen_test]
fn push_then_pull_round_trips_through_javascript_values() {
    let mut server = MemorySyncServer::new(JsValue::UNDEFINED).unwrap();
    let batch = format!(
        r#"{{"scope":{{"workspaceId":"w"}},"deviceId":"dev-a","ops":[{},{}]}}"#,
        put("a", 1, "o1"),
        put("b", 1, "o2")
    );
    let result = server.push(js(&batch)).unwrap();
    assert_eq!(get(&result, "results.0.status").as_string().as_deref(), Some("applied"));
    assert_eq!(get(&result, "serverVersion").as_f64(), Some(2.0));
    // Retrying the same batch is a no-op reported as duplicates.
    let again = server.push(js(&batch)).unwrap();
    assert_eq!(get(&again, "results.1.status").as_string().as_deref(), Some("duplicate"));

    let page = server.pull(js(r#"{"scope":{"workspaceId":"w"},"cursor":0,"limit":1}"#)).unwrap();
    assert_eq!(get(&page, "changes.0.pk").as_string().as_deref(), Some("a"));
    assert_eq!(get(&page, "changes.0.payload.title").as_string().as_deref(), Some("t-o1"));
    assert_eq!(get(&page, "hasMore").as_bool(), Some(true));
    assert_eq!(get(&page, "nextCursor").as_f64(), Some(1.0));
    let stats = server.stats("w").unwrap();
    assert_eq!(get(&stats, "records").as_f64(), Some(2.0));
}

#[wasm_bindgen_test]
fn bad_input_is_a_sync_error_with_a_code_and_changes_nothing() {
    let mut server = MemorySyncServer::new(JsValue::UNDEFINED).unwrap();
    let bad = format!(
        r#"{{"scope":{{"workspaceId":"w"}},"deviceId":"dev-a","ops":[{},{{"tableName":"notes","pk":"x","op":"put","payload":[1],
            "stamp":{{"clock":1,"hlc":"{}","deviceId":"d","opId":"o9"}}}}]}}"#,
        put("a", 1, "o1"),
        hlc_now()
    );
    let err = server.push(js(&bad)).unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&err, "name").as_string().as_deref(), Some("SyncError"));
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_payload"));
    assert_eq!(
        get(&server.stats("w").unwrap(), "version").as_f64(),
        Some(0.0),
        "the batch was rejected whole"
    );

    let wrong_type =
        server.push(js(r#"{"scope":{"workspaceId":"w"},"deviceId":"d","ops":"nope"}"#)).unwrap_err();
    assert_eq!(get(&wrong_type, "code").as_string().as_deref(), Some("invalid_change"));
    let expired = server.pull(js(r#"{"scope":{"workspaceId":"w"},"cursor":5,"limit":10}"#)).unwrap_err();
    assert_eq!(get(&expired, "code").as_string().as_deref(), Some("cursor_expired"));
    assert!(server.update_cursor("w", "d", -1.0).is_err());
    assert!(MemorySyncServer::new(js(r#"{"retention":5}"#)).is_err(), "unknown options are refused");
}
