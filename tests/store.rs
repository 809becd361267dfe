//! Browser tests of the IndexedDB store through `EngineCore` (run by wasm-pack test).

use js_sys::{Array, Function, Reflect, JSON};
use synclane::EngineCore;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn js(text: &str) -> JsValue {
    JSON::parse(text).unwrap_or_else(|_| panic!("bad test JSON: {text}"))
}

fn get(value: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(value.clone(), |v, key| {
        let key: JsValue = match key.parse::<u32>() {
            Ok(index) => index.into(),
            Err(_) => key.into(),
        };
        Reflect::get(&v, &key).unwrap_or(JsValue::UNDEFINED)
    })
}

async fn wait(promise: js_sys::Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn unique(name: &str) -> String {
    format!("test:{name}:{}", js_sys::Math::random())
}

async fn open(db: &str, tables: &str) -> EngineCore {
    let options =
        js(&format!(r#"{{"workspaceId":"w","dbName":"{db}","deviceId":"dev-test","tables":{tables}}}"#));
    EngineCore::connect(options).await.expect("open")
}

fn hlc_now(offset_ms: i64) -> String {
    let ms = (js_sys::Date::now() as i64 + offset_ms) as u64;
    let ntp = ((ms / 1000) << 32) | (((ms % 1000) << 32) / 1000);
    format!("{ntp:016x}-00000000000000aa")
}

fn change(pk: &str, op: &str, clock: u64, version: u64, op_id: &str, title: &str) -> String {
    let payload =
        if op == "put" { format!(r#","payload":{{"id":"{pk}","title":"{title}"}}"#) } else { String::new() };
    format!(
        r#"{{"tableName":"notes","pk":"{pk}","op":"{op}"{payload},"serverVersion":{version},
            "stamp":{{"clock":{clock},"hlc":"{}","deviceId":"remote","opId":"{op_id}"}}}}"#,
        hlc_now(0)
    )
}

/// A rescan page's place in the snapshot, as `stageRescanPage` takes it.
fn staged(from: f64, next: f64, more: bool, total: Option<f64>, floor: f64, epoch: Option<&str>) -> JsValue {
    let total = total.map_or("null".to_string(), |t| t.to_string());
    let epoch = epoch.map_or("null".to_string(), |e| format!("\"{e}\""));
    js(&format!(
        r#"{{"fromCursor":{from},"nextCursor":{next},"hasMore":{more},"total":{total},"retentionFloor":{floor},"epoch":{epoch}}}"#
    ))
}

const NOTES: &str = r#"[{"name":"notes","indexes":[{"name":"byTitle","keyPath":"title"}]}]"#;

/// Runs `body` (JavaScript with `tx` in scope) in a readwrite transaction on `stores` of
/// database `db`, beside synclane, and waits until it commits.
async fn raw_write(db: &str, stores: &str, body: &str) {
    let promise = js_sys::eval(&format!(
        "new Promise((resolve, reject) => {{
          const open = indexedDB.open('{db}');
          open.onsuccess = () => {{
            const tx = open.result.transaction({stores}, 'readwrite');
            {body}
            tx.oncomplete = () => {{ open.result.close(); resolve(); }};
            tx.onerror = () => reject(tx.error);
          }};
          open.onerror = () => reject(open.error);
        }})"
    ))
    .unwrap();
    wait(promise.unchecked_into()).await.unwrap();
}

/// Moves the physical clock the engine reads (`Date.now`) by `offset_ms`; 0 puts it back.
fn shift_physical_clock(offset_ms: i64) {
    js_sys::eval(&format!(
        "globalThis.realDateNow ??= Date.now; Date.now = () => globalThis.realDateNow() + ({offset_ms});"
    ))
    .unwrap();
}

async fn put_hlc(engine: &EngineCore, id: &str) -> String {
    let result =
        wait(engine.write(js(&format!(r#"[{{"table":"notes","op":"put","record":{{"id":"{id}"}}}}]"#))))
            .await
            .unwrap();
    get(&result, "captured.0.hlc").as_string().unwrap()
}

/// The clock resumes past every stamp this device issued, even when the physical clock went
/// back between two runs, and even after the outbox row was rewritten by a push in between.
#[wasm_bindgen_test]
async fn the_clock_resumes_after_a_restart_past_every_stamp_it_issued() {
    let db = unique("clock");
    let engine = open(&db, NOTES).await;
    let first = put_hlc(&engine, "a").await;
    assert_eq!(Array::from(&wait(engine.take_batch()).await.unwrap()).length(), 1);
    engine.close();

    shift_physical_clock(-120_000);
    let engine = open(&db, NOTES).await;
    let second = put_hlc(&engine, "b").await;
    engine.close();
    shift_physical_clock(0);
    assert!(second > first, "{second} must follow {first}");
    let outbox = wait(open(&db, NOTES).await.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(2.0));
    assert!(get(&outbox, "totals.lastHlc").is_undefined(), "the totals tools see are counts");
}

/// A database that kept the clock in a row of its own (before the clock moved into the outbox
/// row) resumes from it.
#[wasm_bindgen_test]
async fn a_database_that_kept_its_clock_in_its_own_row_resumes_from_it() {
    let db = unique("legacy-clock");
    let engine = open(&db, NOTES).await;
    put_hlc(&engine, "a").await;
    engine.close();
    let legacy = hlc_now(60_000);
    raw_write(
        &db,
        "'_sync_state'",
        &format!(
            "const state = tx.objectStore('_sync_state');
             state.put({{ key: 'clock', value: '{legacy}' }});
             state.get('outbox').onsuccess = (e) => {{
               const row = e.target.result;
               delete row.value.lastHlc;
               state.put(row);
             }};"
        ),
    )
    .await;
    let engine = open(&db, NOTES).await;
    let next = put_hlc(&engine, "b").await;
    engine.close();
    assert!(next > legacy, "{next} must follow the stored {legacy}");
}

#[wasm_bindgen_test]
async fn a_write_stores_the_record_and_its_outbox_entry_together() {
    let engine = open(&unique("write"), NOTES).await;
    let result = wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a","title":"one"}},
        {"table":"notes","op":"put","record":{"id":"b","title":"two"}}]"#)))
    .await
    .unwrap();
    assert_eq!(get(&result, "captured.0.clock").as_f64(), Some(1.0));
    assert_eq!(get(&result, "outbox.count").as_f64(), Some(2.0));
    let record = wait(engine.get("notes".into(), "a".into(), false)).await.unwrap();
    assert_eq!(get(&record, "title").as_string().as_deref(), Some("one"));
    assert!(get(&record, "_sync").is_undefined(), "metadata is hidden unless asked for");
    let with_meta = wait(engine.get("notes".into(), "a".into(), true)).await.unwrap();
    assert_eq!(get(&with_meta, "_sync.deviceId").as_string().as_deref(), Some("dev-test"));

    // A second write of "a" coalesces: still two entries, the clock rises.
    let again = wait(engine.write(js(r#"[{"table":"notes","op":"delete","id":"a"}]"#))).await.unwrap();
    assert_eq!(get(&again, "captured.0.clock").as_f64(), Some(2.0));
    assert!(get(&again, "captured.0.replacedOpId").is_string());
    let outbox = wait(engine.outbox()).await.unwrap();
    let entries = Array::from(&get(&outbox, "entries"));
    assert_eq!(entries.length(), 2);
    assert_eq!(get(&entries.get(0), "op").as_string().as_deref(), Some("delete"));
    assert_eq!(get(&entries.get(0), "state").as_string().as_deref(), Some("pending"));
    assert!(wait(engine.get("notes".into(), "a".into(), false)).await.unwrap().is_undefined());

    let by_index =
        wait(engine.get_all("notes".into(), js(r#"{"index":"byTitle","only":"two"}"#))).await.unwrap();
    assert_eq!(Array::from(&by_index).length(), 1);
    engine.close();
}

fn is_random_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[wasm_bindgen_test]
async fn every_write_and_every_new_device_draws_a_fresh_random_id() {
    // More writes than one draw from crypto.getRandomValues makes (64 ids), to cross a refill.
    let ops: Vec<String> =
        (0..150).map(|i| format!(r#"{{"table":"notes","op":"put","record":{{"id":"r{i}"}}}}"#)).collect();
    let db = unique("random-ids");
    let engine =
        EngineCore::connect(js(&format!(r#"{{"workspaceId":"w","dbName":"{db}","tables":{NOTES}}}"#)))
            .await
            .expect("open");
    let result = wait(engine.write(js(&format!("[{}]", ops.join(","))))).await.unwrap();
    let captured = Array::from(&get(&result, "captured"));
    let mut op_ids: Vec<String> = captured.iter().map(|c| get(&c, "opId").as_string().unwrap()).collect();
    assert_eq!(op_ids.len(), 150);
    assert!(op_ids.iter().all(|id| is_random_id(id)), "128-bit hex ids: {:?}", &op_ids[..3]);
    op_ids.sort();
    op_ids.dedup();
    assert_eq!(op_ids.len(), 150, "no op id repeats");

    // Opened without a device id, each database makes one of its own and keeps it.
    let device = engine.device_id();
    assert!(is_random_id(&device), "{device}");
    engine.close();
    let other = EngineCore::connect(js(&format!(
        r#"{{"workspaceId":"w","dbName":"{}","tables":{NOTES}}}"#,
        unique("random-ids")
    )))
    .await
    .expect("open");
    assert!(is_random_id(&other.device_id()));
    assert_ne!(other.device_id(), device);
    other.close();
    let again =
        EngineCore::connect(js(&format!(r#"{{"workspaceId":"w","dbName":"{db}","tables":{NOTES}}}"#)))
            .await
            .expect("reopen");
    assert_eq!(again.device_id(), device);
    again.close();
}

#[wasm_bindgen_test]
async fn a_write_that_fails_leaves_neither_record_nor_outbox_entry() {
    let engine = open(&unique("abort"), NOTES).await;
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"keep","title":"kept"}}]"#)))
        .await
        .unwrap();
    // The second record cannot be stored (a function is not cloneable): the batch aborts.
    let bad = Array::new();
    bad.push(&js(r#"{"table":"notes","op":"put","record":{"id":"x","title":"first half"}}"#));
    let poisoned = js(r#"{"table":"notes","op":"put","record":{"id":"y"}}"#);
    Reflect::set(&get(&poisoned, "record"), &"fn".into(), &Function::new_no_args("return 1")).unwrap();
    bad.push(&poisoned);
    let err = wait(engine.write(bad.into())).await.unwrap_err();
    assert_eq!(get(&err, "name").as_string().as_deref(), Some("SyncError"));
    assert!(
        wait(engine.get("notes".into(), "x".into(), false)).await.unwrap().is_undefined(),
        "first half rolled back"
    );
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(Array::from(&get(&outbox, "entries")).length(), 1, "only the earlier write is queued");
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(1.0));
    let err =
        wait(engine.write(js(r#"[{"table":"ghosts","op":"put","record":{"id":"g"}}]"#))).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("unknown_table"));
    let err = wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"title":"no id"}}]"#)))
        .await
        .unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_payload"));
    engine.close();
}

/// A provider that delivers, later in a bootstrap, an older version of a record an earlier page
/// brought (a higher server version, a lower stamp) does not make this device keep the older
/// one: every change is decided against what the device holds, as on every other replica.
#[wasm_bindgen_test]
async fn a_bootstrap_page_never_replaces_a_record_with_an_older_version() {
    let engine = open(&unique("bootstrap-order"), NOTES).await;
    let page1: Vec<String> =
        (0..10).map(|i| change(&format!("n{i}"), "put", 2, i + 1, &format!("a{i}"), "newer")).collect();
    wait(engine.apply_remote(js(&format!("[{}]", page1.join(","))), 10.0, true, None)).await.unwrap();
    // More records than this page holds, so the page cannot list the table.
    let page2 = format!(
        "[{},{},{}]",
        change("n0", "put", 1, 11, "b0", "older"),
        change("n1", "delete", 1, 12, "b1", ""),
        change("n20", "put", 1, 13, "b20", "new"),
    );
    let report = wait(engine.apply_remote(js(&page2), 13.0, true, None)).await.unwrap();
    assert_eq!(Array::from(&get(&report, "applied")).length(), 1, "only the new record");
    let title = |record: JsValue| get(&record, "title").as_string();
    assert_eq!(
        title(wait(engine.get("notes".into(), "n0".into(), false)).await.unwrap()).as_deref(),
        Some("newer")
    );
    assert_eq!(
        title(wait(engine.get("notes".into(), "n1".into(), false)).await.unwrap()).as_deref(),
        Some("newer")
    );
    assert_eq!(
        title(wait(engine.get("notes".into(), "n20".into(), false)).await.unwrap()).as_deref(),
        Some("new")
    );
    engine.close();
}

#[wasm_bindgen_test]
async fn remote_changes_and_the_cursor_commit_together() {
    let engine = open(&unique("remote"), NOTES).await;
    let batch = format!(
        "[{},{}]",
        change("r1", "put", 1, 1, "o1", "hello"),
        change("r2", "put", 1, 2, "o2", "world")
    );
    let report = wait(engine.apply_remote(js(&batch), 2.0, false, None)).await.unwrap();
    assert_eq!(Array::from(&get(&report, "applied")).length(), 2);
    assert_eq!(get(&report, "cursor.cursor").as_f64(), Some(2.0));
    assert_eq!(get(&report, "cursor.phase").as_string().as_deref(), Some("live"));
    let record = wait(engine.get("notes".into(), "r1".into(), true)).await.unwrap();
    assert_eq!(get(&record, "_sync.serverVersion").as_f64(), Some(1.0));

    // The same batch again: stale, nothing changes, the cursor stays.
    let again = wait(engine.apply_remote(js(&batch), 2.0, false, None)).await.unwrap();
    assert_eq!(get(&again, "stale").as_f64(), Some(2.0));
    assert_eq!(get(&again, "cursorMoved").as_bool(), Some(false));

    // A remote delete with a higher clock beats the record; a local pending write that loses is
    // a conflict with the remote as winner.
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"r2","title":"mine"}}]"#)))
        .await
        .unwrap();
    let delete =
        format!("[{},{}]", change("r1", "delete", 2, 3, "o3", ""), change("r2", "put", 5, 4, "o4", "theirs"));
    let report = wait(engine.apply_remote(js(&delete), 4.0, false, None)).await.unwrap();
    assert_eq!(get(&report, "conflicts.0.pk").as_string().as_deref(), Some("r2"));
    assert_eq!(get(&report, "conflicts.0.winner").as_string().as_deref(), Some("remote"));
    assert!(wait(engine.get("notes".into(), "r1".into(), false)).await.unwrap().is_undefined());
    let r2 = wait(engine.get("notes".into(), "r2".into(), false)).await.unwrap();
    assert_eq!(get(&r2, "title").as_string().as_deref(), Some("theirs"));
    let cursor = wait(engine.cursor_state()).await.unwrap();
    assert_eq!(get(&cursor, "cursor").as_f64(), Some(4.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_bad_batch_is_rejected_whole_and_leaves_data_and_cursor_untouched() {
    let engine = open(&unique("bad"), NOTES).await;
    wait(engine.apply_remote(
        js(&format!("[{}]", change("ok", "put", 1, 1, "o1", "safe"))),
        1.0,
        false,
        None,
    ))
    .await
    .unwrap();
    let cases = [
        (
            format!(
                "[{},{}]",
                change("ok", "put", 9, 2, "o2", "overwritten?"),
                r#"{"tableName":"notes","pk":"z","op":"put","payload":[1],"serverVersion":3,"stamp":{"clock":1,"hlc":"0000000000000001-0000000000000001","deviceId":"d","opId":"z"}}"#
            ),
            "invalid_payload",
        ),
        (
            format!("[{}]", change("ok", "put", 9, 2, "o2", "x").replace("\"notes\"", "\"ghosts\"")),
            "unknown_table",
        ),
        (
            format!(
                "[{}]",
                change("ok", "put", 9, 2, "o2", "x").replace(&hlc_now(0), &hlc_now(3 * 86_400_000))
            ),
            "clock_skew",
        ),
        (r#"[{"tableName":"notes"}]"#.to_string(), "invalid_change"),
        (r#"{"not":"an array"}"#.to_string(), "invalid_change"),
    ];
    for (batch, code) in cases {
        let err = wait(engine.apply_remote(js(&batch), 3.0, false, None)).await.unwrap_err();
        assert_eq!(get(&err, "code").as_string().as_deref(), Some(code), "{batch}");
    }
    // A field of the wrong type, in a change after a good one, rejects the batch with a message
    // naming the change and the field.
    let good = change("ok", "put", 9, 2, "o2", "overwritten?");
    let spoilt = |from: &str, to: &str| {
        let bad = change("n2", "put", 1, 3, "o3", "x");
        assert!(bad.contains(from), "{from}");
        format!("[{good},{}]", bad.replacen(from, to, 1))
    };
    let typed_cases = [
        (spoilt(r#""pk":"n2""#, r#""pk":2"#), "change #1: pk must be a string"),
        (spoilt(r#""op":"put""#, r#""op":true"#), "change #1: op must be a string"),
        (
            spoilt(r#""tableName":"notes""#, r#""tableName":["notes"]"#),
            "change #1: tableName must be a string",
        ),
        (
            spoilt(r#""serverVersion":3"#, r#""serverVersion":2.5"#),
            "change #1: serverVersion must be a non-negative integer",
        ),
        (
            spoilt(r#""serverVersion":3"#, r#""serverVersion":-3"#),
            "change #1: serverVersion must be a non-negative integer",
        ),
        (
            spoilt(r#""serverVersion":3"#, r#""serverVersion":"3""#),
            "change #1: serverVersion must be a non-negative integer",
        ),
        (spoilt(r#""clock":1"#, r#""clock":1e300"#), "change #1: stamp.clock must be a non-negative integer"),
        (spoilt(r#""deviceId":"remote""#, r#""deviceId":{}"#), "change #1: stamp.deviceId must be a string"),
        (
            format!(r#"[{good},{{"tableName":"notes","stamp":"later"}}]"#),
            "change #1: stamp must be an object",
        ),
        (format!("[{good},[1,2]]"), "change #1 must be an object"),
    ];
    for (batch, message) in typed_cases {
        let err = wait(engine.apply_remote(js(&batch), 3.0, false, None)).await.unwrap_err();
        assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_change"), "{batch}");
        assert_eq!(get(&err, "message").as_string().as_deref(), Some(message), "{batch}");
    }
    let record = wait(engine.get("notes".into(), "ok".into(), false)).await.unwrap();
    assert_eq!(get(&record, "title").as_string().as_deref(), Some("safe"));
    let cursor = wait(engine.cursor_state()).await.unwrap();
    assert_eq!(get(&cursor, "cursor").as_f64(), Some(1.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn remote_changes_read_the_wire_spellings_and_big_integers_too() {
    let engine = open(&unique("spellings"), NOTES).await;
    // snake_case field names (the reference server's JSON), a BigInt version and clock, a null
    // payload on a delete: all read as their camelCase, number and absent equivalents.
    let batch = Array::new();
    let put = js(&change("a", "put", 1, 1, "o1", "first")
        .replace("\"tableName\"", "\"table_name\"")
        .replace("\"serverVersion\"", "\"server_version\"")
        .replace("\"deviceId\"", "\"device_id\"")
        .replace("\"opId\"", "\"op_id\""));
    let delete = js(&change("b", "delete", 1, 2, "o2", "")
        .replace("\"op\":\"delete\"", "\"op\":\"delete\",\"payload\":null"));
    Reflect::set(&delete, &"serverVersion".into(), &js_sys::BigInt::from(2u64).into()).unwrap();
    Reflect::set(&get(&delete, "stamp"), &"clock".into(), &js_sys::BigInt::from(1u64).into()).unwrap();
    batch.push(&put);
    batch.push(&delete);
    let report = wait(engine.apply_remote(batch.into(), 2.0, false, None)).await.unwrap();
    assert_eq!(Array::from(&get(&report, "applied")).length(), 2);
    let a = wait(engine.get("notes".into(), "a".into(), true)).await.unwrap();
    assert_eq!(get(&a, "title").as_string().as_deref(), Some("first"));
    let cursor = wait(engine.cursor_state()).await.unwrap();
    assert_eq!(get(&cursor, "cursor").as_f64(), Some(2.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_database_from_an_older_schema_upgrades_without_losing_data_or_pending_ops() {
    let db = unique("migrate");
    let old = open(&db, r#"[{"name":"notes"}]"#).await;
    wait(old.write(js(r#"[{"table":"notes","op":"put","record":{"id":"n1","title":"from v1","tag":"x"}}]"#)))
        .await
        .unwrap();
    old.close();
    let new =
        open(&db, r#"[{"name":"notes","indexes":[{"name":"byTag","keyPath":"tag"}]},{"name":"tags"}]"#).await;
    let kept = wait(new.get("notes".into(), "n1".into(), false)).await.unwrap();
    assert_eq!(get(&kept, "title").as_string().as_deref(), Some("from v1"));
    let by_tag = wait(new.get_all("notes".into(), js(r#"{"index":"byTag","only":"x"}"#))).await.unwrap();
    assert_eq!(Array::from(&by_tag).length(), 1, "the new index covers old records");
    let outbox = wait(new.outbox()).await.unwrap();
    assert_eq!(Array::from(&get(&outbox, "entries")).length(), 1, "pending ops survive the upgrade");
    assert_eq!(new.device_id(), "dev-test");
    wait(new.write(js(r#"[{"table":"tags","op":"put","record":{"id":"t1"}}]"#))).await.unwrap();
    new.close();
}

#[wasm_bindgen_test]
async fn another_tabs_upgrade_closes_this_connection_which_reopens_with_its_outbox() {
    let db = unique("versionchange");
    let tab_a = open(&db, r#"[{"name":"notes"}]"#).await;
    wait(tab_a.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a1","title":"before"}}]"#)))
        .await
        .unwrap();
    // Tab B declares a new table: its upgrade needs tab A's connection closed. If A held on to
    // it, this open would be blocked forever.
    let tab_b = open(&db, r#"[{"name":"notes"},{"name":"tags"}]"#).await;
    wait(tab_b.write(js(r#"[{"table":"tags","op":"put","record":{"id":"t1"}}]"#))).await.unwrap();
    // Tab A carries on: it reopens on its next use and its outbox is intact.
    wait(tab_a.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a2","title":"after"}}]"#)))
        .await
        .unwrap();
    let outbox = wait(tab_a.outbox()).await.unwrap();
    assert_eq!(Array::from(&get(&outbox, "entries")).length(), 3, "a1, t1 and a2 are all queued");
    let seen_by_b = wait(tab_b.get("notes".into(), "a2".into(), false)).await.unwrap();
    assert_eq!(get(&seen_by_b, "title").as_string().as_deref(), Some("after"));
    tab_a.close();
    tab_b.close();
}

#[wasm_bindgen_test]
async fn a_closed_engine_answers_with_a_closed_error() {
    let engine = open(&unique("closed"), NOTES).await;
    engine.close();
    let err = wait(engine.get("notes".into(), "x".into(), false)).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("closed"));
}

#[wasm_bindgen_test]
async fn the_outbox_flushes_in_batches_retries_fails_and_lets_the_app_decide() {
    let engine = open(&unique("flush"), NOTES).await;
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a","title":"1"}},
        {"table":"notes","op":"put","record":{"id":"b","title":"1"}}]"#)))
    .await
    .unwrap();
    let batch = Array::from(&wait(engine.take_batch()).await.unwrap());
    assert_eq!(batch.length(), 2);
    assert_eq!(get(&batch.get(0), "op.payload.title").as_string().as_deref(), Some("1"));
    assert_eq!(
        Array::from(&wait(engine.take_batch()).await.unwrap()).length(),
        0,
        "in-flight ops are not taken twice"
    );
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.inFlight").as_f64(), Some(2.0));

    // A write while "a" is in flight is neither lost nor merged into the op being pushed.
    let later = wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a","title":"2"}}]"#)))
        .await
        .unwrap();
    assert!(get(&later, "captured.0.replacedOpId").is_undefined());

    let seq = |i: u32| get(&batch.get(i), "seq");
    let op_id = |i: u32| get(&batch.get(i), "op.stamp.opId").as_string().unwrap();
    let settlements = Array::new();
    let ack = js_sys::Object::new();
    Reflect::set(&ack, &"seq".into(), &seq(1)).unwrap();
    Reflect::set(&ack, &"opId".into(), &op_id(1).into()).unwrap();
    settlements.push(&ack);
    let refused = js_sys::Object::new();
    Reflect::set(&refused, &"seq".into(), &seq(0)).unwrap();
    Reflect::set(&refused, &"opId".into(), &op_id(0).into()).unwrap();
    Reflect::set(&refused, &"error".into(), &js(r#"{"code":"network","message":"offline"}"#)).unwrap();
    settlements.push(&refused);
    let report = wait(engine.settle(settlements.into())).await.unwrap();
    assert_eq!(
        Array::from(&get(&report, "removed")).length(),
        2,
        "b acknowledged; a superseded by its newer write"
    );
    assert_eq!(get(&report, "totals.count").as_f64(), Some(1.0));
    assert_eq!(get(&report, "totals.inFlight").as_f64(), Some(0.0), "settled ops left the flight");

    // The newer write of "a" fails for good: it stays, failed, until the app decides.
    let batch = Array::from(&wait(engine.take_batch()).await.unwrap());
    let item = batch.get(0);
    let rejection = js_sys::Object::new();
    Reflect::set(&rejection, &"seq".into(), &get(&item, "seq")).unwrap();
    let failed_id = get(&item, "op.stamp.opId").as_string().unwrap();
    Reflect::set(&rejection, &"opId".into(), &failed_id.clone().into()).unwrap();
    Reflect::set(&rejection, &"error".into(), &js(r#"{"code":"rejected","message":"schema"}"#)).unwrap();
    let report = wait(engine.settle(Array::of1(&rejection).into())).await.unwrap();
    assert_eq!(get(&report, "failed.0").as_string(), Some(failed_id.clone()));
    let outbox = wait(engine.outbox()).await.unwrap();
    let entry = Array::from(&get(&outbox, "entries")).get(0);
    assert_eq!(get(&entry, "state").as_string().as_deref(), Some("failed"));
    assert_eq!(get(&entry, "lastError.code").as_string().as_deref(), Some("rejected"));
    assert_eq!(get(&outbox, "totals.failed").as_f64(), Some(1.0), "the totals count failed ops");
    assert_eq!(
        Array::from(&wait(engine.take_batch()).await.unwrap()).length(),
        0,
        "failed ops are not pushed"
    );

    wait(engine.retry_op(failed_id.clone())).await.unwrap();
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.failed").as_f64(), Some(0.0), "a retried op is pending again");
    let retried = Array::from(&wait(engine.take_batch()).await.unwrap());
    assert_eq!(retried.length(), 1);
    assert_eq!(wait(engine.recover_in_flight()).await.unwrap().as_f64(), Some(1.0));
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.inFlight").as_f64(), Some(0.0), "recovered ops are pending again");
    let err = wait(engine.discard_op(failed_id.clone())).await.unwrap_err();
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some("invalid_argument"),
        "only failed ops can be discarded"
    );
    engine.close();
}

#[wasm_bindgen_test]
async fn a_rescan_swaps_in_the_server_set_keeps_pending_ops_and_an_interrupted_one_loses_nothing() {
    let engine = open(&unique("rescan"), NOTES).await;
    let first = format!(
        "[{},{},{}]",
        change("gone", "put", 1, 1, "o1", "deleted on the server"),
        change("kept", "put", 1, 2, "o2", "unchanged"),
        change("mine", "put", 1, 3, "o3", "edited here")
    );
    wait(engine.apply_remote(js(&first), 3.0, false, None)).await.unwrap();
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"mine","title":"local edit"}}]"#)))
        .await
        .unwrap();

    // An interrupted rescan: one page staged, then abandoned. Nothing local changes.
    wait(engine.begin_rescan()).await.unwrap();
    let page = format!("[{}]", change("kept", "put", 1, 2, "o2", "unchanged"));
    wait(engine.stage_rescan_page(js(&page), staged(0.0, 2.0, true, Some(3.0), 0.0, None))).await.unwrap();
    wait(engine.abort_rescan()).await.unwrap();
    let still = wait(engine.get("notes".into(), "gone".into(), false)).await.unwrap();
    assert_eq!(get(&still, "title").as_string().as_deref(), Some("deleted on the server"));
    assert_eq!(
        get(&wait(engine.cursor_state()).await.unwrap(), "phase").as_string().as_deref(),
        Some("expired")
    );

    // The server now holds: kept (v2), mine (updated by someone, v7), new (v8); "gone" was
    // deleted and its tombstone purged, so it is simply absent.
    wait(engine.begin_rescan()).await.unwrap();
    let page1 = format!("[{}]", change("kept", "put", 1, 2, "o2", "unchanged"));
    let page2 = format!(
        "[{},{}]",
        change("mine", "put", 2, 7, "o7", "remote edit"),
        change("new", "put", 1, 8, "o8", "created while away")
    );
    // Pages must be contiguous.
    let err = wait(engine.stage_rescan_page(js(&page2), staged(5.0, 8.0, false, None, 0.0, None)))
        .await
        .unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_change"));
    wait(engine.stage_rescan_page(js(&page1), staged(0.0, 2.0, true, Some(3.0), 4.0, None))).await.unwrap();
    let state =
        wait(engine.stage_rescan_page(js(&page2), staged(2.0, 8.0, false, None, 4.0, None))).await.unwrap();
    assert_eq!(get(&state, "complete").as_bool(), Some(true));
    let report = wait(engine.complete_rescan()).await.unwrap();
    assert_eq!(get(&report, "summary.creations").as_f64(), Some(1.0));
    assert_eq!(get(&report, "summary.deletions").as_f64(), Some(1.0));
    assert_eq!(get(&report, "summary.keptForRebase").as_f64(), Some(1.0));
    assert!(
        wait(engine.get("notes".into(), "gone".into(), false)).await.unwrap().is_undefined(),
        "server deletion applied"
    );
    let mine = wait(engine.get("notes".into(), "mine".into(), false)).await.unwrap();
    assert_eq!(get(&mine, "title").as_string().as_deref(), Some("local edit"), "pending op kept for rebase");
    let created = wait(engine.get("notes".into(), "new".into(), false)).await.unwrap();
    assert_eq!(get(&created, "title").as_string().as_deref(), Some("created while away"));
    let cursor = wait(engine.cursor_state()).await.unwrap();
    assert_eq!(get(&cursor, "phase").as_string().as_deref(), Some("live"));
    assert_eq!(get(&cursor, "cursor").as_f64(), Some(8.0));
    assert_eq!(
        Array::from(&get(&wait(engine.outbox()).await.unwrap(), "entries")).length(),
        1,
        "the pending op is still queued"
    );
    engine.close();
}

#[wasm_bindgen_test]
async fn a_reset_server_gets_back_what_it_lost_and_the_cursor_restarts_from_its_head() {
    let engine = open(&unique("reset"), NOTES).await;
    let e1 = Some("e1".to_string());
    let first = format!(
        "[{},{},{},{}]",
        change("edited", "put", 1, 1, "o1", "synced"),
        change("same", "put", 1, 2, "o2", "on both servers"),
        change("lost", "put", 1, 3, "o3", "only the old server had it"),
        change("deleted", "delete", 2, 4, "o4", "")
    );
    wait(engine.apply_remote(js(&first), 4.0, false, e1.clone())).await.unwrap();
    wait(
        engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"edited","title":"pending edit"}}]"#)),
    )
    .await
    .unwrap();

    // A page of another data set is refused whole: nothing is applied, the cursor stays.
    let stray = format!("[{}]", change("stray", "put", 1, 5, "o5", "from the new server"));
    let err = wait(engine.apply_remote(js(&stray), 5.0, false, Some("e2".into()))).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("cursor_expired"));
    assert!(wait(engine.get("notes".into(), "stray".into(), false)).await.unwrap().is_undefined());
    assert_eq!(get(&wait(engine.cursor_state()).await.unwrap(), "cursor").as_f64(), Some(4.0));

    // The new server holds a later version of "same" and one new record, at versions 1 and
    // 2: fewer than this device counted, in another epoch.
    wait(engine.begin_rescan()).await.unwrap();
    let page = format!(
        "[{},{}]",
        change("same", "put", 1, 1, "o2", "on both servers"),
        change("new", "put", 1, 2, "n1", "written after the reset")
    );
    wait(engine.stage_rescan_page(js(&page), staged(0.0, 2.0, false, Some(2.0), 0.0, Some("e2"))))
        .await
        .unwrap();
    let report = wait(engine.complete_rescan()).await.unwrap();
    assert_eq!(get(&report, "reset.previousCursor").as_f64(), Some(4.0));
    assert_eq!(get(&report, "reset.republishedRecords").as_f64(), Some(1.0), "lost");
    assert_eq!(get(&report, "reset.republishedTombstones").as_f64(), Some(1.0), "deleted");
    assert_eq!(get(&report, "summary.deletions").as_f64(), Some(0.0), "nothing the server lost is deleted");
    assert_eq!(get(&report, "summary.creations").as_f64(), Some(1.0));
    assert_eq!(get(&report, "summary.updates").as_f64(), Some(1.0), "the server's later version of same");
    assert_eq!(get(&report, "summary.keptForRebase").as_f64(), Some(1.0));
    let cursor = wait(engine.cursor_state()).await.unwrap();
    assert_eq!(get(&cursor, "phase").as_string().as_deref(), Some("live"));
    assert_eq!(get(&cursor, "cursor").as_f64(), Some(2.0), "the new server's head");
    let lost = wait(engine.get("notes".into(), "lost".into(), false)).await.unwrap();
    assert_eq!(get(&lost, "title").as_string().as_deref(), Some("only the old server had it"));
    let edited = wait(engine.get("notes".into(), "edited".into(), false)).await.unwrap();
    assert_eq!(get(&edited, "title").as_string().as_deref(), Some("pending edit"));
    let created = wait(engine.get("notes".into(), "new".into(), false)).await.unwrap();
    assert_eq!(get(&created, "title").as_string().as_deref(), Some("written after the reset"));

    // The pending edit and the two lost versions go out, the lost ones with their own stamps
    // and payloads without sync metadata.
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(3.0));
    let batch = Array::from(&wait(engine.take_batch()).await.unwrap());
    let ops: Vec<(String, String, String)> = batch
        .iter()
        .map(|b| {
            let text = |path: &str| get(&b, path).as_string().unwrap_or_default();
            (text("op.pk"), text("op.op"), text("op.stamp.opId"))
        })
        .collect();
    assert_eq!(ops.len(), 3);
    assert!(ops.contains(&("lost".into(), "put".into(), "o3".into())), "{ops:?}");
    assert!(ops.contains(&("deleted".into(), "delete".into(), "o4".into())), "{ops:?}");
    assert!(ops.iter().any(|(pk, op, _)| pk == "edited" && op == "put"), "{ops:?}");
    let lost_op = batch.iter().find(|b| get(b, "op.pk").as_string().as_deref() == Some("lost")).unwrap();
    assert_eq!(get(&lost_op, "op.payload.title").as_string().as_deref(), Some("only the old server had it"));
    assert!(get(&lost_op, "op.payload._sync").is_undefined(), "no sync metadata in the payload");
    assert_eq!(get(&lost_op, "op.stamp.clock").as_f64(), Some(1.0));

    // From now on pages of the new data set apply, the old one's are refused.
    let next = format!("[{}]", change("later", "put", 1, 3, "n2", "after"));
    wait(engine.apply_remote(js(&next), 3.0, false, Some("e2".into()))).await.unwrap();
    let old = format!("[{}]", change("old", "put", 1, 4, "o9", "old server"));
    let err = wait(engine.apply_remote(js(&old), 4.0, false, e1)).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("cursor_expired"));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_rescan_of_the_same_server_is_no_reset_and_deletes_what_it_purged() {
    let engine = open(&unique("no-reset"), NOTES).await;
    let first = format!("[{},{}]", change("a", "put", 1, 1, "o1", "a"), change("b", "put", 1, 2, "o2", "b"));
    wait(engine.apply_remote(js(&first), 2.0, false, Some("e1".into()))).await.unwrap();
    wait(engine.begin_rescan()).await.unwrap();
    let page = format!("[{}]", change("b", "put", 1, 2, "o2", "b"));
    wait(engine.stage_rescan_page(js(&page), staged(0.0, 9.0, false, None, 3.0, Some("e1")))).await.unwrap();
    let report = wait(engine.complete_rescan()).await.unwrap();
    assert!(get(&report, "reset").is_undefined());
    assert_eq!(get(&report, "summary.deletions").as_f64(), Some(1.0));
    assert_eq!(get(&wait(engine.cursor_state()).await.unwrap(), "cursor").as_f64(), Some(9.0));
    assert_eq!(get(&wait(engine.outbox()).await.unwrap(), "totals.count").as_f64(), Some(0.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_malformed_rescan_page_is_refused_and_leaves_the_staging_as_it_was() {
    let engine = open(&unique("bad-page"), NOTES).await;
    let first = format!("[{}]", change("a", "put", 1, 1, "o1", "a"));
    wait(engine.apply_remote(js(&first), 1.0, false, Some("e1".into()))).await.unwrap();
    wait(engine.begin_rescan()).await.unwrap();
    let page = first;
    wait(engine.stage_rescan_page(js(&page), staged(0.0, 1.0, true, None, 0.0, Some("e1")))).await.unwrap();
    for bad in [
        r#"{"fromCursor":"one","nextCursor":2,"hasMore":false}"#,
        r#"{"fromCursor":1,"nextCursor":2}"#,
        r#"{"fromCursor":1,"nextCursor":2,"hasMore":false,"epoch":7}"#,
        r#"null"#,
    ] {
        let err = wait(engine.stage_rescan_page(js("[]"), js(bad))).await.unwrap_err();
        assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_argument"), "{bad}");
    }
    // A page of another epoch than the staged ones: the server was replaced mid-rescan.
    let other = format!("[{}]", change("b", "put", 1, 2, "o2", "b"));
    let err = wait(engine.stage_rescan_page(js(&other), staged(1.0, 2.0, false, None, 0.0, Some("e2"))))
        .await
        .unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("cursor_expired"));
    // Nothing of the refused pages was staged: the right next page still completes the set.
    let state = wait(engine.stage_rescan_page(js(&other), staged(1.0, 2.0, false, None, 0.0, Some("e1"))))
        .await
        .unwrap();
    assert_eq!(get(&state, "received").as_f64(), Some(2.0));
    assert_eq!(get(&state, "complete").as_bool(), Some(true));
    engine.close();
}

#[wasm_bindgen_test]
async fn old_tombstones_covered_by_the_cursor_are_collected() {
    let engine = open(&unique("gc"), NOTES).await;
    let batch =
        format!("[{},{}]", change("a", "put", 1, 1, "o1", "x"), change("a", "delete", 2, 2, "o2", ""));
    wait(engine.apply_remote(js(&batch), 2.0, false, None)).await.unwrap();
    wait(engine.write(js(r#"[{"table":"notes","op":"delete","id":"local-only"}]"#))).await.unwrap();
    assert_eq!(wait(engine.collect_garbage(3_600_000.0)).await.unwrap().as_f64(), Some(0.0), "too young");
    // A retention of zero: the synced tombstone goes; the unsynced local delete stays.
    assert_eq!(wait(engine.collect_garbage(0.0)).await.unwrap().as_f64(), Some(1.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_record_written_several_times_in_one_batch_gets_rising_clocks_and_one_outbox_entry() {
    let engine = open(&unique("repeat"), NOTES).await;
    let result = wait(engine.write(js(r#"[
        {"table":"notes","op":"put","record":{"id":"a","title":"one"}},
        {"table":"notes","op":"put","record":{"id":"b","title":"other"}},
        {"table":"notes","op":"delete","id":"a"},
        {"table":"notes","op":"put","record":{"id":"a","title":"three"}}]"#)))
    .await
    .unwrap();
    let clocks: Vec<f64> =
        (0..4).map(|i| get(&result, &format!("captured.{i}.clock")).as_f64().unwrap()).collect();
    assert_eq!(clocks, vec![1.0, 1.0, 2.0, 3.0]);
    assert_eq!(
        get(&result, "captured.2.replacedOpId").as_string(),
        get(&result, "captured.0.opId").as_string(),
        "the delete replaced the first put"
    );
    assert_eq!(get(&result, "outbox.count").as_f64(), Some(2.0));
    let outbox = wait(engine.outbox()).await.unwrap();
    let entries = Array::from(&get(&outbox, "entries"));
    assert_eq!(entries.length(), 2, "one entry per record");
    assert_eq!(get(&entries.get(0), "pk").as_string().as_deref(), Some("a"), "queue order of first writes");
    assert_eq!(get(&entries.get(0), "payload.title").as_string().as_deref(), Some("three"));
    assert_eq!(get(&entries.get(0), "stamp.clock").as_f64(), Some(3.0));
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(2.0));
    let a = wait(engine.get("notes".into(), "a".into(), true)).await.unwrap();
    assert_eq!(get(&a, "title").as_string().as_deref(), Some("three"));
    assert_eq!(get(&a, "_sync.clock").as_f64(), Some(3.0));

    // The next batch coalesces onto the stored entry and keeps its place.
    let seq = get(&entries.get(0), "seq").as_f64();
    wait(engine.write(js(r#"[{"table":"notes","op":"delete","id":"a"}]"#))).await.unwrap();
    let outbox = wait(engine.outbox()).await.unwrap();
    let first = get(&outbox, "entries.0");
    assert_eq!(get(&first, "seq").as_f64(), seq);
    assert_eq!(get(&first, "op").as_string().as_deref(), Some("delete"));
    assert_eq!(get(&first, "stamp.clock").as_f64(), Some(4.0));

    // A remote batch holding two versions of one record applies them in order.
    let batch = format!(
        "[{},{},{}]",
        change("r", "put", 1, 1, "x1", "first"),
        change("r", "delete", 2, 2, "x2", ""),
        change("r", "put", 3, 3, "x3", "third")
    );
    let report = wait(engine.apply_remote(js(&batch), 3.0, false, None)).await.unwrap();
    assert_eq!(Array::from(&get(&report, "applied")).length(), 3);
    let r = wait(engine.get("notes".into(), "r".into(), true)).await.unwrap();
    assert_eq!(get(&r, "title").as_string().as_deref(), Some("third"));
    assert_eq!(get(&r, "_sync.clock").as_f64(), Some(3.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_write_over_a_failed_op_replaces_it_and_the_failed_count_follows() {
    let engine = open(&unique("failed-count"), NOTES).await;
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a","title":"1"}}]"#)))
        .await
        .unwrap();
    let item = Array::from(&wait(engine.take_batch()).await.unwrap()).get(0);
    let rejection = js_sys::Object::new();
    Reflect::set(&rejection, &"seq".into(), &get(&item, "seq")).unwrap();
    Reflect::set(&rejection, &"opId".into(), &get(&item, "op.stamp.opId")).unwrap();
    Reflect::set(&rejection, &"error".into(), &js(r#"{"code":"forbidden","message":"read-only"}"#)).unwrap();
    wait(engine.settle(Array::of1(&rejection).into())).await.unwrap();
    let view = wait(engine.inspect(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&view, "outbox.totals.failed").as_f64(), Some(1.0));
    assert_eq!(get(&view, "outbox.entries.0.state").as_string().as_deref(), Some("failed"));

    // A new write of the record coalesces over the failed op: one pending entry, none failed.
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a","title":"2"}}]"#)))
        .await
        .unwrap();
    let totals_only = wait(engine.inspect(js(r#"{"outboxLimit":0,"conflictLimit":0}"#))).await.unwrap();
    assert_eq!(Array::from(&get(&totals_only, "outbox.entries")).length(), 0, "a limit of 0 reads no entry");
    let view = wait(engine.inspect(js(r#"{"outboxLimit":1,"conflictLimit":0}"#))).await.unwrap();
    assert_eq!(get(&view, "outbox.totals.failed").as_f64(), Some(0.0));
    assert_eq!(get(&view, "outbox.totals.count").as_f64(), Some(1.0));
    assert_eq!(get(&view, "outbox.entries.0.state").as_string().as_deref(), Some("pending"));
    assert_eq!(get(&view, "tombstones").as_f64(), Some(0.0));
    let err = wait(engine.inspect(js(r#"{"outboxLimits":1}"#))).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_argument"));
    engine.close();
}

#[wasm_bindgen_test]
async fn batches_come_from_the_head_of_a_long_queue_in_order_with_backed_off_ops_skipped() {
    let engine = open(&unique("long-queue"), NOTES).await;
    // 1,000 records: more than one read chunk (2 x 200 ops) of the queue.
    let writes: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"table":"notes","op":"put","record":{{"id":"n{i}","title":"t"}}}}"#))
        .collect();
    wait(engine.write(js(&format!("[{}]", writes.join(","))))).await.unwrap();
    let mut taken = Vec::new();
    loop {
        let batch = Array::from(&wait(engine.take_batch()).await.unwrap());
        if batch.length() == 0 {
            break;
        }
        assert!(batch.length() <= 200, "a batch holds at most maxBatchOps");
        let settlements = Array::new();
        for item in batch.iter() {
            taken.push(get(&item, "op.pk").as_string().unwrap());
            let ack = js_sys::Object::new();
            Reflect::set(&ack, &"seq".into(), &get(&item, "seq")).unwrap();
            Reflect::set(&ack, &"opId".into(), &get(&item, "op.stamp.opId")).unwrap();
            settlements.push(&ack);
        }
        wait(engine.settle(settlements.into())).await.unwrap();
    }
    let expected: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
    assert_eq!(taken, expected, "every op once, in queue order");
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(0.0));
    assert_eq!(get(&outbox, "totals.inFlight").as_f64(), Some(0.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn misspelt_options_are_refused_at_every_depth_and_key_ranges_keep_their_keys() {
    let db = unique("strict");
    let refused = |options: &str| {
        let options = js(&options.replace("DB", &db));
        async move { EngineCore::connect(options).await.err().expect("refused") }
    };
    for (options, field) in [
        (r#"{"workspaceId":"w","dbName":"DB","tables":[],"colck":{}}"#, "colck"),
        (r#"{"workspaceId":"w","dbName":"DB","tables":[{"name":"notes","index":[]}]}"#, "index"),
        (
            r#"{"workspaceId":"w","dbName":"DB","tables":[{"name":"notes","indexes":[{"name":"t","keyPath":"t","uniq":true}]}]}"#,
            "uniq",
        ),
        (r#"{"workspaceId":"w","dbName":"DB","tables":[],"clock":{"maxDrift":1}}"#, "maxDrift"),
    ] {
        let err = refused(options).await;
        assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_argument"), "{options}");
        let message = get(&err, "message").as_string().unwrap_or_default();
        assert!(message.starts_with("engine options: unknown field"), "{message}");
        assert!(message.contains(field), "{message}");
    }
    let err = refused(r#"{"workspaceId":"w","dbName":"DB","tables":[{"name":"notes","indexes":[{"name":"t","keyPath":7}]}]}"#).await;
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_argument"));

    let engine = open(&db, NOTES).await;
    wait(engine.write(js(r#"[{"table":"notes","op":"put","record":{"id":"a","title":"one"}},
        {"table":"notes","op":"put","record":{"id":"b","title":"two"}},
        {"table":"notes","op":"put","record":{"id":"c","title":"three"}}]"#)))
    .await
    .unwrap();
    let ids = |records: JsValue| -> Vec<String> {
        Array::from(&records).iter().filter_map(|r| get(&r, "id").as_string()).collect()
    };
    let only = wait(engine.get_all("notes".into(), js(r#"{"index":"byTitle","only":"two"}"#))).await.unwrap();
    assert_eq!(ids(only), ["b"]);
    let range =
        wait(engine.get_all("notes".into(), js(r#"{"lower":"a","upper":"c","upperOpen":true,"limit":5}"#)))
            .await
            .unwrap();
    assert_eq!(ids(range), ["a", "b"]);
    let err = wait(engine.get_all("notes".into(), js(r#"{"lowr":"a"}"#))).await.unwrap_err();
    let message = get(&err, "message").as_string().unwrap_or_default();
    assert!(message.starts_with("query: unknown field `lowr`"), "{message}");
    let err = wait(engine.get_all("notes".into(), js(r#"{"limit":-1}"#))).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_argument"));
    engine.close();
    wait(EngineCore::delete_database(db)).await.unwrap();
}

/// A batch first lists the keys of stores smaller than itself and reads only what they hold,
/// reads a small outbox whole, and reads record by record otherwise: each way must find the
/// stored clocks, tombstones and entries the same.
#[wasm_bindgen_test]
async fn a_batch_finds_stored_versions_and_entries_whether_their_stores_are_small_or_large() {
    let engine = open(&unique("probe"), NOTES).await;
    let write = |ops: &str| engine.write(js(ops));
    let summary = |result: &JsValue| -> Vec<String> {
        Array::from(&get(result, "captured"))
            .iter()
            .map(|c| {
                let pk = get(&c, "pk").as_string().unwrap();
                let clock = get(&c, "clock").as_f64().unwrap();
                let how = if get(&c, "replacedOpId").is_string() { "replaced" } else { "new" };
                format!("{pk}:{clock}:{how}")
            })
            .collect()
    };
    wait(write(
        r#"[{"table":"notes","op":"put","record":{"id":"a","title":"1"}},
            {"table":"notes","op":"put","record":{"id":"b","title":"1"}},
            {"table":"notes","op":"put","record":{"id":"c","title":"1"}}]"#,
    ))
    .await
    .unwrap();
    wait(write(r#"[{"table":"notes","op":"delete","id":"c"}]"#)).await.unwrap();
    let first_seq = get(&wait(engine.outbox()).await.unwrap(), "entries.0.seq").as_f64();

    // Small stores (2 records, 1 tombstone, 3 entries, for a batch of 4): listed, and the
    // outbox read whole.
    let small = wait(write(
        r#"[{"table":"notes","op":"put","record":{"id":"a","title":"2"}},
            {"table":"notes","op":"put","record":{"id":"c","title":"2"}},
            {"table":"notes","op":"put","record":{"id":"d","title":"1"}},
            {"table":"notes","op":"put","record":{"id":"e","title":"1"}}]"#,
    ))
    .await
    .unwrap();
    assert_eq!(summary(&small), ["a:2:replaced", "c:3:replaced", "d:1:new", "e:1:new"]);
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(5.0));
    assert_eq!(get(&outbox, "entries.0.seq").as_f64(), first_seq, "a coalesced entry keeps its place");
    assert_eq!(get(&outbox, "entries.0.payload.title").as_string().as_deref(), Some("2"));

    // Large stores (5 records, 5 entries, for a batch of 2): read record by record.
    let large = wait(write(
        r#"[{"table":"notes","op":"put","record":{"id":"b","title":"2"}},
            {"table":"notes","op":"delete","id":"d"}]"#,
    ))
    .await
    .unwrap();
    assert_eq!(summary(&large), ["b:2:replaced", "d:2:replaced"]);
    // The tombstone of d is in a small store again; the records and entries are not.
    let mixed = wait(write(
        r#"[{"table":"notes","op":"put","record":{"id":"d","title":"3"}},
            {"table":"notes","op":"put","record":{"id":"x","title":"1"}}]"#,
    ))
    .await
    .unwrap();
    assert_eq!(summary(&mixed), ["d:3:replaced", "x:1:new"]);
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(6.0));
    assert_eq!(Array::from(&get(&outbox, "entries")).length(), 6, "one entry per record");
    let view = wait(engine.inspect(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&view, "tombstones").as_f64(), Some(0.0), "the puts cleared every tombstone");
    engine.close();
}

fn outbox_rows(outbox: &JsValue) -> Vec<String> {
    Array::from(&get(outbox, "entries"))
        .iter()
        .map(|e| {
            format!(
                "{}:{}:{}:{}",
                get(&e, "pk").as_string().unwrap(),
                get(&e, "state").as_string().unwrap(),
                get(&e, "stamp.clock").as_f64().unwrap(),
                get(&e, "payload.title").as_string().unwrap_or_default()
            )
        })
        .collect()
}

/// Two tabs (here two engines on one database) write the same records: each write continues
/// whatever the store holds now, not what its own engine wrote last, and an entry the other
/// tab took into a push is never replaced.
#[wasm_bindgen_test]
async fn writes_from_two_tabs_continue_each_others_clocks_tombstones_and_entries() {
    let db = unique("guess");
    let tab_a = open(&db, NOTES).await;
    let tab_b = open(&db, NOTES).await;
    let put = |engine: &EngineCore, id: &str, title: &str| {
        engine.write(js(&format!(
            r#"[{{"table":"notes","op":"put","record":{{"id":"{id}","title":"{title}"}}}}]"#
        )))
    };
    let count = |view: &JsValue| get(view, "totals.count").as_f64();

    // a's clock continues and its entry is replaced in place.
    wait(put(&tab_a, "a", "a1")).await.unwrap();
    let again = wait(put(&tab_a, "a", "a2")).await.unwrap();
    assert_eq!(get(&again, "captured.0.clock").as_f64(), Some(2.0));
    assert!(get(&again, "captured.0.replacedOpId").is_string());

    // The other tab wrote a: its clock and op id are the ones continued and replaced.
    let other = wait(put(&tab_b, "a", "b3")).await.unwrap();
    let result = wait(put(&tab_a, "a", "a4")).await.unwrap();
    assert_eq!(get(&result, "captured.0.clock").as_f64(), Some(4.0), "continues the other tab's clock");
    assert_eq!(
        get(&result, "captured.0.replacedOpId").as_string(),
        get(&other, "captured.0.opId").as_string()
    );
    let outbox = wait(tab_a.outbox()).await.unwrap();
    assert_eq!(outbox_rows(&outbox), ["a:pending:4:a4"]);
    assert_eq!(count(&outbox), Some(1.0));
    let stored = wait(tab_a.get("notes".into(), "a".into(), true)).await.unwrap();
    assert_eq!(get(&stored, "_sync.clock").as_f64(), Some(4.0));

    // The other tab took a's entry into a push: the entry in flight stays as it was, and the
    // write gets an entry of its own.
    wait(put(&tab_a, "a", "a5")).await.unwrap();
    let taken = Array::from(&wait(tab_b.take_batch()).await.unwrap());
    assert_eq!(taken.length(), 1);
    let result = wait(put(&tab_a, "a", "a6")).await.unwrap();
    assert!(get(&result, "captured.0.replacedOpId").is_undefined(), "an op in flight is never replaced");
    let outbox = wait(tab_a.outbox()).await.unwrap();
    assert_eq!(outbox_rows(&outbox), ["a:inFlight:5:a5", "a:pending:6:a6"]);
    assert_eq!(count(&outbox), Some(2.0));

    // A record only the other tab wrote: this write replaces its entry.
    let other = wait(put(&tab_b, "c", "b1")).await.unwrap();
    let result = wait(put(&tab_a, "c", "a2")).await.unwrap();
    assert_eq!(get(&result, "captured.0.clock").as_f64(), Some(2.0));
    assert_eq!(
        get(&result, "captured.0.replacedOpId").as_string(),
        get(&other, "captured.0.opId").as_string()
    );
    let outbox = wait(tab_a.outbox()).await.unwrap();
    assert_eq!(outbox_rows(&outbox), ["a:inFlight:5:a5", "a:pending:6:a6", "c:pending:2:a2"]);
    assert_eq!(count(&outbox), Some(3.0));

    // The other tab deleted c: a put must continue the tombstone's clock and clear it.
    wait(tab_b.write(js(r#"[{"table":"notes","op":"delete","id":"c"}]"#))).await.unwrap();
    let result = wait(put(&tab_a, "c", "a4")).await.unwrap();
    assert_eq!(get(&result, "captured.0.clock").as_f64(), Some(4.0));
    let view = wait(tab_a.inspect(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&view, "tombstones").as_f64(), Some(0.0));
    assert_eq!(get(&view, "outbox.totals.count").as_f64(), Some(3.0));
    let c = wait(tab_a.get("notes".into(), "c".into(), true)).await.unwrap();
    assert_eq!(
        (get(&c, "title").as_string().as_deref(), get(&c, "_sync.clock").as_f64()),
        (Some("a4"), Some(4.0))
    );

    // And this tab's own delete, then a put over its tombstone.
    wait(tab_a.write(js(r#"[{"table":"notes","op":"delete","id":"c"}]"#))).await.unwrap();
    let result = wait(put(&tab_a, "c", "a6")).await.unwrap();
    assert_eq!(get(&result, "captured.0.clock").as_f64(), Some(6.0));
    let view = wait(tab_a.inspect(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&view, "tombstones").as_f64(), Some(0.0));
    assert_eq!(get(&view, "outbox.totals.count").as_f64(), Some(3.0));
    tab_a.close();
    tab_b.close();
}

#[wasm_bindgen_test]
async fn an_outbox_entry_counts_its_payload_in_utf8_bytes_and_any_storable_record_is_written() {
    let engine = open(&unique("bytes"), NOTES).await;
    // 2, 3 and 4 bytes per character in UTF-8 (the emoji is two UTF-16 code units).
    let record = js(r#"{"id":"u","title":"café € 😀"}"#);
    let ops = Array::of1(&js(r#"{"table":"notes","op":"put"}"#));
    Reflect::set(&ops.get(0), &"record".into(), &record).unwrap();
    let result = wait(engine.write(ops.into())).await.unwrap();
    let json_bytes = js_sys::eval("(v) => new TextEncoder().encode(JSON.stringify(v)).length")
        .unwrap()
        .unchecked_into::<Function>()
        .call1(&JsValue::UNDEFINED, &record)
        .unwrap()
        .as_f64()
        .unwrap();
    assert_eq!(json_bytes, 35.0, "the fixture has the multi-byte characters it claims");
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "entries.0.byteSize").as_f64(), Some(json_bytes + 64.0));
    assert_eq!(get(&result, "outbox.bytes").as_f64(), Some(json_bytes + 64.0));

    // A record JSON cannot express (a BigInt, a cycle) is still stored: it counts as no bytes.
    let odd = js(r#"{"id":"odd"}"#);
    Reflect::set(&odd, &"big".into(), &js_sys::BigInt::from(7u32).into()).unwrap();
    Reflect::set(&odd, &"me".into(), &odd).unwrap();
    let ops = Array::of1(&js(r#"{"table":"notes","op":"put"}"#));
    Reflect::set(&ops.get(0), &"record".into(), &odd).unwrap();
    let result = wait(engine.write(ops.into())).await.unwrap();
    assert_eq!(get(&result, "outbox.bytes").as_f64(), Some(json_bytes + 64.0 + 64.0));
    let stored = wait(engine.get("notes".into(), "odd".into(), false)).await.unwrap();
    assert!(get(&stored, "big").is_bigint());
    engine.close();
}

/// Runs `promise` while a task of its own keeps asking for a turn on the main thread; answers
/// with the promise's result, how long it took, and the longest stretch without a turn (the
/// longest the page was held).
async fn held_while(promise: js_sys::Promise) -> (Result<JsValue, JsValue>, f64, f64) {
    let probe = js_sys::eval(
        "(() => {
          const p = { on: true, last: performance.now(), longest: 0, start: performance.now() };
          const channel = new MessageChannel();
          channel.port1.onmessage = () => {
            const now = performance.now();
            p.longest = Math.max(p.longest, now - p.last);
            p.last = now;
            if (p.on) channel.port2.postMessage(0);
          };
          channel.port2.postMessage(0);
          return p;
        })()",
    )
    .unwrap();
    let result = wait(promise).await;
    Reflect::set(&probe, &"on".into(), &false.into()).unwrap();
    let now = js_sys::eval("performance.now()").unwrap().as_f64().unwrap();
    (result, now - get(&probe, "start").as_f64().unwrap(), get(&probe, "longest").as_f64().unwrap())
}

#[wasm_bindgen_test]
async fn a_large_batch_lets_the_page_run_between_slices_and_still_lands_whole_or_not_at_all() {
    let engine = open(&unique("sliced"), NOTES).await;
    let ops = |count: usize, prefix: &str| {
        let ops = Array::new();
        for i in 0..count {
            ops.push(&js(&format!(
                r#"{{"table":"notes","op":"put","record":{{"id":"{prefix}{i}","title":"{}"}}}}"#,
                "x".repeat(200)
            )));
        }
        ops
    };
    let good = ops(4000, "g");
    let (result, took, held) = held_while(engine.write(good.into())).await;
    assert_eq!(get(&result.unwrap(), "outbox.count").as_f64(), Some(4000.0));
    console_log!("4,000 writes: {took:.0} ms, the page held at most {held:.0} ms");
    assert!(held * 4.0 < took, "the batch paused between slices: held {held:.0} of {took:.0} ms");

    // The last record cannot be stored: everything written in earlier slices rolls back.
    let bad = ops(4000, "b");
    let poisoned = js(r#"{"table":"notes","op":"put","record":{"id":"poisoned"}}"#);
    Reflect::set(&get(&poisoned, "record"), &"fn".into(), &Function::new_no_args("return 1")).unwrap();
    bad.push(&poisoned);
    let (result, took, held) = held_while(engine.write(bad.into())).await;
    assert!(result.is_err());
    console_log!("4,001 writes, the last unstorable: {took:.0} ms, held at most {held:.0} ms");
    assert!(held * 4.0 < took, "the failing batch paused too: held {held:.0} of {took:.0} ms");
    assert!(wait(engine.get("notes".into(), "b0".into(), false)).await.unwrap().is_undefined());
    let all = wait(engine.get_all("notes".into(), js("{}"))).await.unwrap();
    assert_eq!(Array::from(&all).length(), 4000, "only the first batch's records");
    let outbox = wait(engine.outbox()).await.unwrap();
    assert_eq!(get(&outbox, "totals.count").as_f64(), Some(4000.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_remote_batch_finds_the_tombstones_of_records_it_does_not_hold_in_a_large_store() {
    let db = unique("tombstones");
    let engine = open(&db, NOTES).await;
    // Six tombstones (clock 2) and one live record: more tombstones than a batch of three
    // lists, so the batch cannot know the store whole.
    let mut setup: Vec<String> =
        (0..6).map(|i| change(&format!("t{i}"), "delete", 2, i + 1, &format!("d{i}"), "")).collect();
    setup.push(change("live", "put", 1, 7, "l1", "one"));
    setup.push(change("raw", "delete", 2, 8, "d-raw", ""));
    wait(engine.apply_remote(js(&format!("[{}]", setup.join(","))), 8.0, false, None)).await.unwrap();
    // A record written beside synclane (no `_sync`) while its tombstone is kept.
    raw_write(&db, "'notes'", "tx.objectStore('notes').put({ id: 'raw', title: 'outside' });").await;
    let tombstones = |view: &JsValue| get(view, "tombstones").as_f64();
    assert_eq!(tombstones(&wait(engine.inspect(JsValue::UNDEFINED)).await.unwrap()), Some(7.0));

    let batch = format!(
        "[{},{},{},{}]",
        // Loses to its tombstone (clock 2 beats clock 1): the record stays deleted.
        change("t0", "put", 1, 9, "p0", "too old"),
        // Beats its tombstone: the record comes back and the tombstone goes.
        change("t1", "put", 3, 10, "p1", "back"),
        // Held live: its tombstone is not read, and it has none.
        change("live", "put", 2, 11, "l2", "two"),
        // Held, but not by synclane: its tombstone is still found, and cleared.
        change("raw", "put", 3, 12, "p-raw", "synced"),
    );
    let report = wait(engine.apply_remote(js(&batch), 12.0, false, None)).await.unwrap();
    let applied: Vec<String> =
        Array::from(&get(&report, "applied")).iter().map(|c| get(&c, "pk").as_string().unwrap()).collect();
    assert_eq!(applied, ["t1", "live", "raw"]);
    assert!(wait(engine.get("notes".into(), "t0".into(), false)).await.unwrap().is_undefined());
    for (pk, title) in [("t1", "back"), ("live", "two"), ("raw", "synced")] {
        let record = wait(engine.get("notes".into(), pk.into(), false)).await.unwrap();
        assert_eq!(get(&record, "title").as_string().as_deref(), Some(title), "{pk}");
    }
    // t1's and raw's tombstones are gone; t0's and the other five stay.
    assert_eq!(tombstones(&wait(engine.inspect(JsValue::UNDEFINED)).await.unwrap()), Some(5.0));
    engine.close();
}

#[wasm_bindgen_test]
async fn a_store_that_shrank_since_a_batch_saw_it_large_still_gives_every_write_its_history() {
    let engine = open(&unique("shrank"), NOTES).await;
    let write = |ops: String| engine.write(js(&ops));
    let put = |id: &str| format!(r#"{{"table":"notes","op":"put","record":{{"id":"{id}","title":"t"}}}}"#);
    let delete = |id: &str| format!(r#"{{"table":"notes","op":"delete","id":"{id}"}}"#);
    let ids = ["a", "b", "c", "d", "e", "f"];
    wait(write(format!("[{}]", ids.map(put).join(",")))).await.unwrap();
    // Six records seen by a batch of two: the table is known to be larger than such batches.
    wait(write(format!("[{},{}]", put("a"), put("b")))).await.unwrap();
    // Then it shrinks to one record (five tombstones).
    wait(write(format!("[{}]", ["b", "c", "d", "e", "f"].map(delete).join(",")))).await.unwrap();
    let result = wait(write(format!("[{},{},{}]", put("a"), put("c"), put("new")))).await.unwrap();
    let clocks: Vec<(String, f64)> = Array::from(&get(&result, "captured"))
        .iter()
        .map(|c| (get(&c, "pk").as_string().unwrap(), get(&c, "clock").as_f64().unwrap()))
        .collect();
    // a: put, put, put; c: put, delete, put; new: first write.
    assert_eq!(clocks, [("a".to_string(), 3.0), ("c".to_string(), 3.0), ("new".to_string(), 1.0)]);
    let view = wait(engine.inspect(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&view, "tombstones").as_f64(), Some(4.0), "c's tombstone was cleared");
    engine.close();
}

#[wasm_bindgen_test]
async fn a_remote_delete_removes_whatever_the_table_holds_and_tombstones_what_it_does_not() {
    let db = unique("remote-deletes");
    let engine = open(&db, NOTES).await;
    wait(engine.apply_remote(
        js(&format!("[{}]", change("synced", "put", 1, 1, "s1", "one"))),
        1.0,
        false,
        None,
    ))
    .await
    .unwrap();
    // A record written beside synclane (no `_sync`): it counts as never synced, but it is there.
    raw_write(&db, "'notes'", "tx.objectStore('notes').put({ id: 'raw', title: 'outside' });").await;

    let batch = format!(
        "[{},{},{},{},{},{}]",
        change("synced", "delete", 2, 2, "s2", ""),
        change("raw", "delete", 1, 3, "r1", ""),
        // Never held: only its tombstone is written.
        change("unknown", "delete", 1, 4, "u1", ""),
        // Put then deleted in the same batch, then put again and deleted again.
        change("twice", "put", 1, 5, "t1", "first"),
        change("twice", "delete", 2, 6, "t2", ""),
        change("synced", "put", 3, 7, "s3", "back"),
    );
    let report = wait(engine.apply_remote(js(&batch), 7.0, false, None)).await.unwrap();
    assert_eq!(Array::from(&get(&report, "applied")).length(), 6);
    let record = |pk: &'static str| wait(engine.get("notes".into(), pk.into(), false));
    assert!(record("raw").await.unwrap().is_undefined(), "the raw record is deleted");
    assert!(record("unknown").await.unwrap().is_undefined());
    assert!(record("twice").await.unwrap().is_undefined(), "deleted after its put in the batch");
    assert_eq!(get(&record("synced").await.unwrap(), "title").as_string().as_deref(), Some("back"));
    // Tombstones: raw, unknown, twice (synced's was cleared by its later put).
    let view = wait(engine.inspect(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&view, "tombstones").as_f64(), Some(3.0));
    // The table holds `synced` alone.
    let all = Array::from(&wait(engine.get_all("notes".into(), JsValue::UNDEFINED)).await.unwrap());
    assert_eq!(all.length(), 1);
    engine.close();
}
