//! `MemorySyncServer`: the core's reference backend rules, in the browser. JavaScript tests, the
//! provider conformance kit and demos run a real protocol server in memory with it.
//!
//! It is a wasm module of its own, behind the `synclane/memory` entry point: an app that syncs
//! with a real backend never downloads it.

use js_sys::{Array, Reflect, JSON};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use synclane_core::change::{Payload, PayloadId, PullRequest, PushBatch, SyncScope};
use synclane_core::server::{MemoryServer, ServerConfig};
use synclane_core::ErrorCode;
use synclane_js::interop::{from_js, from_js_strict, now_ms, to_js, version_arg};
use synclane_js::to_js_error;
use wasm_bindgen::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServerOptions {
    tombstone_retention_ms: Option<u64>,
    device_ttl_ms: Option<u64>,
    max_pull_limit: Option<u32>,
    epoch: Option<String>,
}

/// A payload as the server keeps it: its JSON text, as a server behind a network would receive
/// it. What it stores cannot change when the pusher's object does, and every pull hands out a
/// fresh copy.
#[derive(Debug, Clone)]
struct JsonPayload(String);

impl JsonPayload {
    fn value(&self) -> JsValue {
        JSON::parse(&self.0).unwrap_or(JsValue::UNDEFINED)
    }
}

impl<'de> Deserialize<'de> for JsonPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value: JsValue = serde_wasm_bindgen::preserve::deserialize(deserializer)?;
        JSON::stringify(&value)
            .ok()
            .and_then(|text| text.as_string())
            .map(JsonPayload)
            .ok_or_else(|| serde::de::Error::custom("a payload must be a JSON value"))
    }
}

impl Serialize for JsonPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&self.value(), serializer)
    }
}

impl Payload for JsonPayload {
    fn is_object(&self) -> bool {
        let value = self.value();
        value.is_object() && !Array::is_array(&value)
    }

    fn byte_size(&self) -> usize {
        self.0.len()
    }

    fn id_field(&self) -> PayloadId {
        match Reflect::get(&self.value(), &"id".into()) {
            Ok(id) if id.is_undefined() || id.is_null() => PayloadId::Absent,
            Ok(id) => id.as_string().map_or(PayloadId::NotText, PayloadId::Text),
            Err(_) => PayloadId::Absent,
        }
    }
}

/// 64 random bits in hex: two servers of one page, or of two loads of it, never share one
/// (an epoch names a data set; it guards nothing, so `Math.random` serves).
fn random_epoch() -> String {
    let half = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:016x}", (half() << 32) | half())
}

/// An in-memory sync server: version counter, compacted change log, idempotent push, the
/// conflict rule, tombstones, paginated pull, device cursors and a retention floor.
#[wasm_bindgen]
pub struct MemorySyncServer {
    inner: MemoryServer<JsonPayload>,
}

#[wasm_bindgen]
impl MemorySyncServer {
    /// `options`: `{ tombstoneRetentionMs?, deviceTtlMs?, maxPullLimit?, epoch? }`. `epoch` names
    /// the server's data set in every pull page; each server draws a random one unless told,
    /// so a page that reloads (and starts an empty server) is seen by its devices as a reset.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<MemorySyncServer, JsValue> {
        let options: ServerOptions = if options.is_undefined() || options.is_null() {
            ServerOptions::default()
        } else {
            from_js_strict(options, "server options", ErrorCode::InvalidArgument).map_err(to_js_error)?
        };
        let defaults = ServerConfig::default();
        let config = ServerConfig {
            tombstone_retention_ms: options.tombstone_retention_ms.unwrap_or(defaults.tombstone_retention_ms),
            device_ttl_ms: options.device_ttl_ms.unwrap_or(defaults.device_ttl_ms),
            max_pull_limit: options.max_pull_limit.unwrap_or(defaults.max_pull_limit).max(1),
            limits: defaults.limits,
        };
        let epoch = options.epoch.unwrap_or_else(random_epoch);
        Ok(MemorySyncServer { inner: MemoryServer::new(config).with_epoch(epoch) })
    }

    /// Applies a `PushBatch` atomically and returns the `PushResult`.
    pub fn push(&mut self, batch: JsValue) -> Result<JsValue, JsValue> {
        let batch: PushBatch<JsonPayload> =
            from_js(batch, "push batch", ErrorCode::InvalidChange).map_err(to_js_error)?;
        let result = self.inner.push(batch, now_ms()).map_err(to_js_error)?;
        to_js(&result).map_err(to_js_error)
    }

    /// Answers a `PullRequest` with a `PullResponse` page.
    pub fn pull(&mut self, request: JsValue) -> Result<JsValue, JsValue> {
        let request: PullRequest =
            from_js(request, "pull request", ErrorCode::InvalidArgument).map_err(to_js_error)?;
        let response = self.inner.pull(&request, now_ms()).map_err(to_js_error)?;
        to_js(&response).map_err(to_js_error)
    }

    /// Records how far a device has pulled.
    #[wasm_bindgen(js_name = updateCursor)]
    pub fn update_cursor(
        &mut self,
        workspace_id: &str,
        device_id: &str,
        version: f64,
    ) -> Result<(), JsValue> {
        let version = version_arg(version, "version").map_err(to_js_error)?;
        self.inner
            .update_cursor(&SyncScope::new(workspace_id), device_id, version, now_ms())
            .map_err(to_js_error)
    }

    /// Purges old tombstones that every active device has pulled; returns how many.
    #[wasm_bindgen(js_name = collectGarbage)]
    pub fn collect_garbage(&mut self) -> u32 {
        u32::try_from(self.inner.collect_garbage(now_ms())).unwrap_or(u32::MAX)
    }

    /// `{ version, records, tombstones, floor, devices }` for a workspace.
    pub fn stats(&self, workspace_id: &str) -> Result<JsValue, JsValue> {
        let stats = self.inner.stats(&SyncScope::new(workspace_id));
        let object = js_sys::Object::new();
        for (key, value) in [
            ("version", stats.version as f64),
            ("records", stats.records as f64),
            ("tombstones", stats.tombstones as f64),
            ("floor", stats.floor as f64),
            ("devices", stats.devices as f64),
        ] {
            js_sys::Reflect::set(&object, &key.into(), &value.into())?;
        }
        Ok(object.into())
    }
}
