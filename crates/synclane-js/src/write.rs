//! Building plain JavaScript objects field by field: the counterpart of [`crate::read`], for
//! the results the engine's module hands out and the rows it stores. Numbers are JavaScript
//! numbers (the values are safe integers), objects are plain objects, as the TypeScript types
//! describe them.

use crate::read::with_key;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

/// A plain object being filled in.
pub struct Out(Object);

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

impl Out {
    pub fn new() -> Out {
        Out(Object::new())
    }

    /// Sets `name` (a fresh object has no setters, so this cannot fail).
    pub fn set(self, name: &'static str, value: &JsValue) -> Out {
        with_key(name, |key| Reflect::set(&self.0, key, value).ok());
        self
    }

    pub fn num(self, name: &'static str, value: u64) -> Out {
        self.set(name, &JsValue::from_f64(value as f64))
    }

    /// A number, or no field at all when there is none.
    pub fn opt_num(self, name: &'static str, value: Option<u64>) -> Out {
        match value {
            Some(v) => self.num(name, v),
            None => self,
        }
    }

    /// A number, or `null` when there is none.
    pub fn num_or_null(self, name: &'static str, value: Option<u64>) -> Out {
        match value {
            Some(v) => self.num(name, v),
            None => self.set(name, &JsValue::NULL),
        }
    }

    pub fn text(self, name: &'static str, value: &str) -> Out {
        self.set(name, &JsValue::from_str(value))
    }

    pub fn flag(self, name: &'static str, value: bool) -> Out {
        self.set(name, &JsValue::from_bool(value))
    }

    pub fn into_js(self) -> JsValue {
        self.0.into()
    }
}

/// An array of `items`, each made by `item`.
pub fn list<T>(items: impl IntoIterator<Item = T>, item: impl Fn(T) -> JsValue) -> JsValue {
    items.into_iter().map(item).collect::<Array>().into()
}

/// An array of strings.
pub fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> JsValue {
    list(items, |s| JsValue::from_str(s))
}
