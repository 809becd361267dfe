//! IndexedDB requests as futures, over `web-sys`.
//!
//! The store uses the browser's API directly rather than a wrapper crate because schema
//! migrations need the upgrade transaction itself (to add an index to a store that already
//! holds data), and because the store decides exactly when a transaction commits or aborts.
//!
//! Transactions stay alive only while requests are pending: code holding one must await
//! nothing but that transaction's requests (never a provider call or a timer). A request's
//! future resolves in a microtask of its success event, when the transaction is still active,
//! so new requests can be issued after awaiting one.

use js_sys::{Function, JsString, Promise, Reflect};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use synclane_core::{ErrorCode, SyncError};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
};

/// Maps a browser storage failure to a canonical error, keeping the DOMException's name so a
/// quota error is recognisable as one.
pub fn storage_error(context: &str, err: &JsValue) -> SyncError {
    let name = Reflect::get(err, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    let message: JsString =
        Reflect::get(err, &"message".into()).ok().and_then(|m| m.dyn_into().ok()).unwrap_or_default();
    // Searched by JavaScript: Rust's substring search is a large piece of code for one use.
    let mentions = |word: &str| message.includes(word, 0);
    let code = match name.as_str() {
        "QuotaExceededError" => ErrorCode::QuotaExceeded,
        "InvalidStateError" if mentions("closing") || mentions("closed") => ErrorCode::Closed,
        "DataCloneError" | "DataError" => ErrorCode::InvalidArgument,
        _ => ErrorCode::Storage,
    };
    SyncError::new(code, format!("{context}: {name}: {}", String::from(message)))
}

/// The error of a failed request or transaction, as a JS value.
fn dom_error(target: &JsValue) -> JsValue {
    Reflect::get(target, &"error".into()).ok().filter(|e| !e.is_null() && !e.is_undefined()).unwrap_or_else(
        || {
            DomException::new_with_message_and_name("aborted", "AbortError")
                .map(Into::into)
                .unwrap_or(JsValue::NULL)
        },
    )
}

/// A request, a transaction's completion or the opening of a database, as a future that fails
/// with a storage error naming `context`.
///
/// A named type with an out-of-line `poll` rather than an `async fn`: every `.await` on it in
/// the store is then a plain call, where an inlined async body would be copied into each of the
/// store's state machines (the wasm size that costs is large).
pub struct Pending {
    state: PendingState,
    context: &'static str,
}

enum PendingState {
    Waiting(JsFuture),
    Ready(Option<Result<JsValue, SyncError>>),
}

impl Future for Pending {
    type Output = Result<JsValue, SyncError>;

    #[inline(never)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let context = self.context;
        match &mut self.state {
            PendingState::Waiting(future) => {
                Pin::new(future).poll(cx).map(|result| result.map_err(|e| storage_error(context, &e)))
            }
            PendingState::Ready(result) => Poll::Ready(result.take().unwrap_or(Ok(JsValue::UNDEFINED))),
        }
    }
}

/// Awaits a request's result. Requests issued together may be awaited in any order: one that
/// already finished (its event fired before anyone listened) is read directly.
#[inline(never)]
pub fn request(req: &IdbRequest, context: &'static str) -> Pending {
    if req.ready_state() == web_sys::IdbRequestReadyState::Done {
        let result = match req.error() {
            Ok(Some(error)) => Err(storage_error(context, &error.into())),
            _ => req.result().map_err(|e| storage_error(context, &e)),
        };
        return Pending { state: PendingState::Ready(Some(result)), context };
    }
    let target: JsValue = req.clone().into();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let on_success = Closure::once_into_js(move |event: web_sys::Event| {
            let result =
                event.target().map(|t| Reflect::get(&t, &"result".into()).unwrap_or(JsValue::UNDEFINED));
            let _ = resolve.call1(&JsValue::UNDEFINED, &result.unwrap_or(JsValue::UNDEFINED));
        });
        let failed = target.clone();
        let on_error = Closure::once_into_js(move |event: web_sys::Event| {
            // Handled here: the caller decides whether the transaction aborts.
            event.prevent_default();
            let _ = reject.call1(&JsValue::UNDEFINED, &dom_error(&failed));
        });
        req.set_onsuccess(Some(on_success.unchecked_ref()));
        req.set_onerror(Some(on_error.unchecked_ref()));
    });
    Pending { state: PendingState::Waiting(JsFuture::from(promise)), context }
}

/// Waits for a group of requests issued together in one transaction by waiting for the last
/// of them. Requests of a transaction finish in the order they were issued, so when the last
/// has finished every earlier one has too, and [`request`] then reads each result at once,
/// without a listener. One listener per group instead of one per request: with hundreds of
/// reads in a batch, the closures, promises and calls into the wasm were a large part of its
/// cost.
pub async fn group_done(last: Option<&IdbRequest>, context: &'static str) -> Result<(), SyncError> {
    match last {
        Some(req) => request(req, context).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Awaits a transaction's completion; an abort or error is an error.
#[inline(never)]
pub fn transaction_done(tx: &IdbTransaction, context: &'static str) -> Pending {
    let target: JsValue = tx.clone().into();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let on_complete = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let failed = target.clone();
        let reject_abort = reject.clone();
        let failed_abort = target.clone();
        // A failed request's error event reaches the transaction before its abort, when the
        // transaction's own `error` is not set yet: the request (the event's target) says why.
        let on_error = Closure::once_into_js(move |event: web_sys::Event| {
            let source = event.target().map(JsValue::from).unwrap_or(failed);
            let _ = reject.call1(&JsValue::UNDEFINED, &dom_error(&source));
        });
        let on_abort = Closure::once_into_js(move || {
            let _ = reject_abort.call1(&JsValue::UNDEFINED, &dom_error(&failed_abort));
        });
        tx.set_oncomplete(Some(on_complete.unchecked_ref()));
        tx.set_onerror(Some(on_error.unchecked_ref()));
        tx.set_onabort(Some(on_abort.unchecked_ref()));
    });
    Pending { state: PendingState::Waiting(JsFuture::from(promise)), context }
}

/// Starts a transaction over `stores`.
pub fn transaction(db: &IdbDatabase, stores: &[&str], write: bool) -> Result<IdbTransaction, SyncError> {
    let names = js_sys::Array::new();
    for store in stores {
        names.push(&JsValue::from_str(store));
    }
    let mode = if write { IdbTransactionMode::Readwrite } else { IdbTransactionMode::Readonly };
    db.transaction_with_str_sequence_and_mode(&names, mode)
        .map_err(|e| storage_error("starting a transaction", &e))
}

/// The page's (or worker's) IndexedDB factory.
pub fn factory() -> Result<IdbFactory, SyncError> {
    let global = js_sys::global();
    let idb = Reflect::get(&global, &"indexedDB".into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    idb.map(JsCast::unchecked_into)
        .ok_or_else(|| SyncError::new(ErrorCode::Storage, "IndexedDB is not available in this environment"))
}

/// A schema migration, run inside an upgrade transaction.
pub type Upgrade = Box<dyn FnOnce(&IdbDatabase, &IdbTransaction) -> Result<(), JsValue>>;

/// Opens a database. `upgrade`, if any, runs inside the upgrade transaction when `version` is
/// above the stored one; it receives the database and that transaction.
pub async fn open(
    name: &str,
    version: Option<u32>,
    upgrade: Option<Upgrade>,
) -> Result<IdbDatabase, SyncError> {
    let factory = factory()?;
    let req: IdbOpenDbRequest = match version {
        Some(v) => factory.open_with_u32(name, v),
        None => factory.open(name),
    }
    .map_err(|e| storage_error("opening the database", &e))?;
    // Boxed (or none): one copy of this function serves every caller.
    let upgrade = RefCell::new(upgrade);
    let req_for_upgrade = req.clone();
    let on_upgrade = Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new(move |_event| {
        let Some(upgrade) = upgrade.borrow_mut().take() else { return };
        let db: Option<IdbDatabase> = req_for_upgrade.result().ok().map(JsCast::unchecked_into);
        let tx = req_for_upgrade.transaction();
        if let (Some(db), Some(tx)) = (db, tx) {
            if let Err(err) = upgrade(&db, &tx) {
                web_sys_log(&err);
                tx.abort().ok();
            }
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let result = request(&req, "opening the database").await;
    req.set_onupgradeneeded(None);
    drop(on_upgrade);
    result.map(JsCast::unchecked_into)
}

fn web_sys_log(err: &JsValue) {
    let console = Reflect::get(&js_sys::global(), &"console".into()).ok();
    if let Some(error) = console.as_ref().and_then(|c| Reflect::get(c, &"error".into()).ok()) {
        if let Some(f) = error.dyn_ref::<Function>() {
            let _ = f.call2(
                console.as_ref().unwrap_or(&JsValue::NULL),
                &"synclane: schema upgrade failed".into(),
                err,
            );
        }
    }
}

/// Deletes a database by name.
pub async fn delete_database(name: &str) -> Result<(), SyncError> {
    let req = factory()?.delete_database(name).map_err(|e| storage_error("deleting the database", &e))?;
    request(&req, "deleting the database").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn dom(name: &str) -> JsValue {
        DomException::new_with_message_and_name("boom", name).unwrap().into()
    }

    #[wasm_bindgen_test]
    fn browser_storage_failures_map_to_canonical_codes_and_keep_their_names() {
        let quota = storage_error("writing records", &dom("QuotaExceededError"));
        assert_eq!(quota.code, ErrorCode::QuotaExceeded);
        assert!(quota.message.contains("QuotaExceededError"), "{}", quota.message);
        assert_eq!(storage_error("x", &dom("DataCloneError")).code, ErrorCode::InvalidArgument);
        assert_eq!(storage_error("x", &dom("UnknownError")).code, ErrorCode::Storage);
        assert_eq!(storage_error("x", &JsValue::from_str("not an exception")).code, ErrorCode::Storage);
    }
}
