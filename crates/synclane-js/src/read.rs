//! Reading JavaScript values into Rust types field by field, with messages that name the field.
//!
//! The engine's module reads its options, stored rows and policy inputs with this rather than
//! with serde: serde's readers are generic, so every type got its own copy of them, and their
//! error messages format floats, which alone pulled in about 14 KB of float printing. Each type
//! writes its reader by hand in a few lines over [`Fields`]; the checks match serde's (integers
//! must be safe, non-negative integers; `undefined` and `null` are an absent field).

use js_sys::{Array, Object, Reflect};
use std::cell::RefCell;
use synclane_core::{ErrorCode, Quoted, SyncError};
use wasm_bindgen::{JsCast, JsValue};

/// A reader's failure: what is wrong, naming the field (`retry.maxAttempts must be ...`).
pub type ReadResult<T> = Result<T, String>;

/// Turns a reader's failure into a typed error: `{what}: {problem}`.
#[inline(never)]
pub fn read_error(what: &str, code: ErrorCode) -> impl Fn(String) -> SyncError + '_ {
    move |problem| SyncError::new(code, format!("{what}: {problem}"))
}

/// Reads an options object the caller may leave out: `undefined` or `null` give the defaults,
/// anything else is read by `read`, and a problem is an `invalid_argument` error naming `what`.
pub fn read_options<T: Default>(
    value: JsValue,
    what: &str,
    read: impl FnOnce(&Fields) -> ReadResult<T>,
) -> Result<T, SyncError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    Fields::of(value).and_then(|f| read(&f)).map_err(read_error(what, ErrorCode::InvalidArgument))
}

thread_local! {
    // Field names as JavaScript strings, made once: decoding a name for every lookup cost more
    // than the lookup on the hot paths (stored rows are read on every write). A list searched
    // by the names' addresses: there are a few dozen names, each a string literal, so the
    // search costs about what hashing the name would, and a map type of its own would add its
    // code to the wasm.
    static KEYS: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// `object[name]`, with the name's JavaScript string from the cache (borrowed, not cloned: a
/// clone and its drop are two more calls into JavaScript).
pub fn get_field(object: &JsValue, name: &'static str) -> JsValue {
    with_key(name, |key| Reflect::get(object, key).unwrap_or(JsValue::UNDEFINED))
}

/// Runs `f` with the cached JavaScript string of `name`.
pub fn with_key<R>(name: &'static str, f: impl FnOnce(&JsValue) -> R) -> R {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        // The same literal may sit at two addresses (one per crate): it is then cached twice.
        let same =
            |known: &&'static str| std::ptr::eq(known.as_ptr(), name.as_ptr()) && known.len() == name.len();
        let index = match keys.iter().position(|(known, _)| same(known)) {
            Some(index) => index,
            None => {
                keys.push((name, JsValue::from_str(name)));
                keys.len() - 1
            }
        };
        f(&keys[index].1)
    })
}

/// `undefined` and `null` are an absent value, as they are in JSON.
fn present(value: JsValue) -> Option<JsValue> {
    (!value.is_null_or_undefined()).then_some(value)
}

/// Whether a value is a plain object: not an array (`is_object` is `typeof value === 'object'`,
/// so not a function either, nor `null`).
fn is_object(value: &JsValue) -> bool {
    value.is_object() && !Array::is_array(value)
}

/// The fields of a JavaScript object. `path` prefixes every message, for nested objects.
pub struct Fields {
    object: JsValue,
    path: String,
}

impl Fields {
    /// `value` must be a plain object.
    pub fn of(value: JsValue) -> ReadResult<Fields> {
        Fields::at(value, String::new())
    }

    /// `value` must be a plain object; its messages name it `path` (an array item: `tables[2]`).
    pub fn at(value: JsValue, path: String) -> ReadResult<Fields> {
        if is_object(&value) {
            Ok(Fields { object: value, path })
        } else if path.is_empty() {
            Err("expected an object".into())
        } else {
            Err(format!("{path} must be an object"))
        }
    }

    /// The field's name as messages show it.
    fn name(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    /// The field's value, or `None` when it is absent, `undefined` or `null`.
    pub fn get(&self, field: &'static str) -> Option<JsValue> {
        present(get_field(&self.object, field))
    }

    /// Why a required field could not be read: absent, or of the wrong type (`expected`).
    #[inline(never)]
    fn wrong(&self, field: &'static str, value: &JsValue, expected: &str) -> String {
        if value.is_null_or_undefined() {
            format!("missing field `{}`", self.name(field))
        } else {
            format!("{} must be {expected}", self.name(field))
        }
    }

    /// Refuses fields not in `known` (a misspelt option must not pass silently).
    pub fn deny_unknown(&self, known: &[&str]) -> ReadResult<()> {
        let names = Object::keys(self.object.unchecked_ref::<Object>());
        for name in names.iter() {
            let name = name.as_string().unwrap_or_default();
            if !known.contains(&name.as_str()) {
                let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                return Err(format!(
                    "unknown field `{}`, expected one of {}",
                    self.name(&name),
                    expected.join(", ")
                ));
            }
        }
        Ok(())
    }

    // The required readers convert first and look for `undefined` only when that fails: one
    // call into JavaScript fewer per field on rows read for every record.
    pub fn string(&self, field: &'static str) -> ReadResult<String> {
        let value = get_field(&self.object, field);
        value.as_string().ok_or_else(|| self.wrong(field, &value, "a string"))
    }

    pub fn opt_string(&self, field: &'static str) -> ReadResult<Option<String>> {
        self.get(field).map(|value| self.as_string(field, value)).transpose()
    }

    /// [`Fields::opt_string`] under `field`, or else under `alias` (the wire's snake_case).
    pub fn opt_string_or(&self, field: &'static str, alias: &'static str) -> ReadResult<Option<String>> {
        self.get(field).or_else(|| self.get(alias)).map(|value| self.as_string(field, value)).transpose()
    }

    fn as_string(&self, field: &str, value: JsValue) -> ReadResult<String> {
        value.as_string().ok_or_else(|| format!("{} must be a string", self.name(field)))
    }

    pub fn uint(&self, field: &'static str) -> ReadResult<u64> {
        let value = get_field(&self.object, field);
        uint(&value).ok_or_else(|| self.wrong(field, &value, "a non-negative integer"))
    }

    pub fn opt_uint(&self, field: &'static str) -> ReadResult<Option<u64>> {
        self.get(field).map(|value| uint(&value).ok_or_else(|| self.not_uint(field))).transpose()
    }

    /// [`Fields::opt_uint`] under `field`, or else under `alias` (the wire's snake_case).
    pub fn opt_uint_or(&self, field: &'static str, alias: &'static str) -> ReadResult<Option<u64>> {
        self.get(field)
            .or_else(|| self.get(alias))
            .map(|value| uint(&value).ok_or_else(|| self.not_uint(field)))
            .transpose()
    }

    pub fn u32(&self, field: &'static str) -> ReadResult<u32> {
        self.narrow(field, self.uint(field)?)
    }

    pub fn opt_u32(&self, field: &'static str) -> ReadResult<Option<u32>> {
        self.opt_uint(field)?.map(|v| self.narrow(field, v)).transpose()
    }

    fn narrow(&self, field: &str, value: u64) -> ReadResult<u32> {
        u32::try_from(value).map_err(|_| format!("{} must be at most {}", self.name(field), u32::MAX))
    }

    fn not_uint(&self, field: &str) -> String {
        format!("{} must be a non-negative integer", self.name(field))
    }

    pub fn opt_number(&self, field: &'static str) -> ReadResult<Option<f64>> {
        self.get(field)
            .map(|value| value.as_f64().ok_or_else(|| format!("{} must be a number", self.name(field))))
            .transpose()
    }

    pub fn flag(&self, field: &'static str) -> ReadResult<bool> {
        let value = get_field(&self.object, field);
        value.as_bool().ok_or_else(|| self.wrong(field, &value, "true or false"))
    }

    pub fn opt_bool(&self, field: &'static str) -> ReadResult<Option<bool>> {
        self.get(field)
            .map(|value| value.as_bool().ok_or_else(|| format!("{} must be true or false", self.name(field))))
            .transpose()
    }

    /// A nested object.
    pub fn object(&self, field: &'static str) -> ReadResult<Fields> {
        let value = get_field(&self.object, field);
        if is_object(&value) {
            Ok(Fields { object: value, path: self.name(field) })
        } else {
            Err(self.wrong(field, &value, "an object"))
        }
    }

    pub fn opt_object(&self, field: &'static str) -> ReadResult<Option<Fields>> {
        self.get(field).map(|value| Fields::at(value, self.name(field))).transpose()
    }

    /// An array's items, each read by `item` (given the item and its name, `field[i]`).
    pub fn opt_array<T>(
        &self,
        field: &'static str,
        mut item: impl FnMut(JsValue, String) -> ReadResult<T>,
    ) -> ReadResult<Option<Vec<T>>> {
        let Some(value) = self.get(field) else { return Ok(None) };
        if !Array::is_array(&value) {
            return Err(format!("{} must be an array", self.name(field)));
        }
        let name = self.name(field);
        Array::from(&value)
            .iter()
            .enumerate()
            .map(|(i, v)| item(v, format!("{name}[{i}]")))
            .collect::<ReadResult<_>>()
            .map(Some)
    }

    /// A string field that names one of a set (an enum), read by `parse`.
    pub fn named<T>(&self, field: &'static str, parse: impl Fn(&str) -> Option<T>) -> ReadResult<T> {
        let text = self.string(field)?;
        parse(&text).ok_or_else(|| format!("{} has an unknown value {}", self.name(field), Quoted(&text)))
    }
}

/// A non-negative integer: a safe-integer number, or a BigInt that fits in 64 bits.
pub fn uint(value: &JsValue) -> Option<u64> {
    if let Some(number) = value.as_f64() {
        // Number.isSafeInteger, decided here rather than by one more call into JavaScript.
        ((0.0..=9_007_199_254_740_991.0).contains(&number) && number.fract() == 0.0).then_some(number as u64)
    } else if value.is_bigint() {
        u64::try_from(value.clone()).ok()
    } else {
        None
    }
}
