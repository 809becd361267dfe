//! The database layout and its migrations.
//!
//! One database per workspace. Each app table is an object store keyed by `id`, with the
//! indexes the app declares. Internal stores start with `_`, which no app table name can
//! (see `synclane_core::validate::is_valid_table_name`).
//!
//! Migrations are declarative: at open the declared tables and indexes are compared with what
//! the database holds; anything missing or changed is created in one upgrade (version + 1).
//! Nothing is ever deleted except an index whose definition changed (it is rebuilt from the
//! data), so records and pending ops survive every upgrade.

use synclane_js::read::{Fields, ReadResult};
use wasm_bindgen::JsValue;
use web_sys::{IdbDatabase, IdbIndexParameters, IdbObjectStore, IdbObjectStoreParameters, IdbTransaction};

pub const PENDING_OPS: &str = "_pending_ops";
pub const TOMBSTONES: &str = "_tombstones";
pub const SYNC_STATE: &str = "_sync_state";
pub const SYNC_RUNS: &str = "_sync_runs";
pub const CONFLICTS: &str = "_conflicts";
/// Where a rescan stages the server's full set before swapping it in.
pub const STAGING: &str = "_staging";
/// Index of the outbox on `[tableName, pk]`: the entries of one record.
pub const BY_RECORD: &str = "by_record";

/// Where an index reads its key from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPath {
    One(String),
    Many(Vec<String>),
}

impl KeyPath {
    fn to_js(&self) -> JsValue {
        match self {
            KeyPath::One(path) => JsValue::from_str(path),
            KeyPath::Many(paths) => {
                paths.iter().map(|p| JsValue::from_str(p)).collect::<js_sys::Array>().into()
            }
        }
    }

    fn matches(&self, js: &JsValue) -> bool {
        match self {
            KeyPath::One(path) => js.as_string().as_deref() == Some(path.as_str()),
            KeyPath::Many(paths) => {
                let array = js_sys::Array::from(js);
                js_sys::Array::is_array(js)
                    && array.length() as usize == paths.len()
                    && paths
                        .iter()
                        .enumerate()
                        .all(|(i, p)| array.get(i as u32).as_string().as_deref() == Some(p))
            }
        }
    }
}

/// An index the app declares on a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_path: KeyPath,
    pub unique: bool,
    pub multi_entry: bool,
}

/// A synced table the app declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub indexes: Vec<IndexSpec>,
}

impl TableSpec {
    /// `{ name, indexes?: [{ name, keyPath, unique?, multiEntry? }] }`; `keyPath` is a string or
    /// an array of strings.
    pub fn read(f: &Fields) -> ReadResult<TableSpec> {
        f.deny_unknown(&["name", "indexes"])?;
        let indexes = f.opt_array("indexes", |value, name| {
            let index = Fields::at(value, name.clone())?;
            index.deny_unknown(&["name", "keyPath", "unique", "multiEntry"])?;
            let key_path = match index.get("keyPath") {
                Some(path) if path.is_string() => KeyPath::One(path.as_string().unwrap_or_default()),
                Some(paths) if js_sys::Array::is_array(&paths) => KeyPath::Many(
                    js_sys::Array::from(&paths)
                        .iter()
                        .map(|p| p.as_string())
                        .collect::<Option<_>>()
                        .ok_or_else(|| format!("{name}.keyPath must hold strings only"))?,
                ),
                Some(_) => return Err(format!("{name}.keyPath must be a string or an array of strings")),
                None => return Err(format!("missing field `{name}.keyPath`")),
            };
            Ok(IndexSpec {
                name: index.string("name")?,
                key_path,
                unique: index.opt_bool("unique")?.unwrap_or(false),
                multi_entry: index.opt_bool("multiEntry")?.unwrap_or(false),
            })
        })?;
        Ok(TableSpec { name: f.string("name")?, indexes: indexes.unwrap_or_default() })
    }
}

struct InternalStore {
    name: &'static str,
    key_path: &'static str,
    auto_increment: bool,
    indexes: &'static [(&'static str, &'static [&'static str])],
}

const INTERNAL: [InternalStore; 6] = [
    InternalStore {
        name: PENDING_OPS,
        key_path: "seq",
        auto_increment: true,
        indexes: &[(BY_RECORD, &["tableName", "pk"])],
    },
    InternalStore { name: TOMBSTONES, key_path: "key", auto_increment: false, indexes: &[] },
    InternalStore { name: SYNC_STATE, key_path: "key", auto_increment: false, indexes: &[] },
    InternalStore { name: SYNC_RUNS, key_path: "seq", auto_increment: true, indexes: &[] },
    InternalStore { name: CONFLICTS, key_path: "seq", auto_increment: true, indexes: &[] },
    InternalStore { name: STAGING, key_path: "key", auto_increment: false, indexes: &[] },
];

/// Whether the open database lacks a store or index that the schema declares.
pub fn needs_upgrade(db: &IdbDatabase, tables: &[TableSpec]) -> Result<bool, JsValue> {
    let names = db.object_store_names();
    let all_present =
        INTERNAL.iter().all(|s| names.contains(s.name)) && tables.iter().all(|t| names.contains(&t.name));
    if !all_present {
        return Ok(true);
    }
    let with_indexes: Vec<&TableSpec> = tables.iter().filter(|t| !t.indexes.is_empty()).collect();
    if with_indexes.is_empty() {
        return Ok(false);
    }
    let store_names: js_sys::Array = with_indexes.iter().map(|t| JsValue::from_str(&t.name)).collect();
    let tx = db.transaction_with_str_sequence(&store_names)?;
    for table in with_indexes {
        let store = tx.object_store(&table.name)?;
        for index in &table.indexes {
            if !index_matches(&store, index)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn index_matches(store: &IdbObjectStore, spec: &IndexSpec) -> Result<bool, JsValue> {
    if !store.index_names().contains(&spec.name) {
        return Ok(false);
    }
    let index = store.index(&spec.name)?;
    Ok(spec.key_path.matches(&index.key_path()?)
        && index.unique() == spec.unique
        && index.multi_entry() == spec.multi_entry)
}

/// Creates what is missing, inside the upgrade transaction.
pub fn upgrade(db: &IdbDatabase, tx: &IdbTransaction, tables: &[TableSpec]) -> Result<(), JsValue> {
    let names = db.object_store_names();
    for internal in &INTERNAL {
        if names.contains(internal.name) {
            continue;
        }
        let params = IdbObjectStoreParameters::new();
        params.set_key_path(&JsValue::from_str(internal.key_path));
        params.set_auto_increment(internal.auto_increment);
        let store = db.create_object_store_with_optional_parameters(internal.name, &params)?;
        for (index, path) in internal.indexes {
            let key_path: js_sys::Array = path.iter().map(|p| JsValue::from_str(p)).collect();
            store.create_index_with_str_sequence(index, &key_path)?;
        }
    }
    for table in tables {
        let store = if names.contains(&table.name) {
            tx.object_store(&table.name)?
        } else {
            let params = IdbObjectStoreParameters::new();
            params.set_key_path(&JsValue::from_str("id"));
            db.create_object_store_with_optional_parameters(&table.name, &params)?
        };
        for index in &table.indexes {
            if index_matches(&store, index)? {
                continue;
            }
            if store.index_names().contains(&index.name) {
                // The definition changed: rebuild it from the data.
                store.delete_index(&index.name)?;
            }
            let params = IdbIndexParameters::new();
            params.set_unique(index.unique);
            params.set_multi_entry(index.multi_entry);
            store.create_index_with_str_sequence_and_optional_parameters(
                &index.name,
                &index.key_path.to_js(),
                &params,
            )?;
        }
    }
    Ok(())
}
