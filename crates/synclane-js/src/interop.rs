//! Conversions between JavaScript values and Rust types, in one place.

use js_sys::{Array, Object, Reflect};
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Serialize;
use serde_wasm_bindgen::{Deserializer as JsDeserializer, Error};
use synclane_core::{ErrorCode, SyncError};
use wasm_bindgen::{JsCast, JsValue};

/// Reads a JavaScript value into a Rust type. A shape mismatch is the caller's bad input, so it
/// becomes a typed error with `code` (never a panic, never a bare string).
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str, code: ErrorCode) -> Result<T, SyncError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| unreadable(e, what, code))
}

// Out of line, so the instances of the generic readers and writers share their error paths.
#[inline(never)]
fn unreadable(e: Error, what: &str, code: ErrorCode) -> SyncError {
    SyncError::new(code, format!("{what}: {e}"))
}

/// Like [`from_js`], but every key of every object is seen by the deserializer, so
/// `deny_unknown_fields` catches misspelt options (reading a struct straight from a JavaScript
/// object only looks up the fields the struct declares).
pub fn from_js_strict<T: DeserializeOwned>(
    value: JsValue,
    what: &str,
    code: ErrorCode,
) -> Result<T, SyncError> {
    T::deserialize(Strict(value)).map_err(|e| strict_error(e, what, code))
}

#[inline(never)]
fn strict_error(e: Error, what: &str, code: ErrorCode) -> SyncError {
    // The message alone, as a serde error reads, without the JavaScript `Error: ` prefix.
    let js = JsValue::from(e);
    let message = Reflect::get(&js, &"message".into()).ok().and_then(|m| m.as_string());
    SyncError::new(code, format!("{what}: {}", message.unwrap_or_default()))
}

/// A JavaScript value read the way a JSON value is: every object, as a struct or a map, shows
/// the deserializer all of its keys, arrays hold strict values in turn, and numbers, strings and
/// booleans reach each field's visitor as JSON values would. Options, newtypes, enums and tuple
/// structs keep serde-wasm-bindgen's rules, which is also what lets
/// `serde_wasm_bindgen::preserve` keep a value as it is.
struct Strict(JsValue);

/// What a JavaScript value is, read once outside the generic code (every visitor would get its
/// own copy of this otherwise).
enum Kind {
    Null,
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Map(Array),
    Seq(Array),
    Other(String),
}

#[inline(never)]
fn kind(value: JsValue) -> Kind {
    if value.is_undefined() || value.is_null() {
        Kind::Null
    } else if let Some(b) = value.as_bool() {
        Kind::Bool(b)
    } else if value.is_bigint() {
        match i64::try_from(value) {
            Ok(v) => Kind::Signed(v),
            Err(value) => match u64::try_from(value) {
                Ok(v) => Kind::Unsigned(v),
                Err(value) => Kind::Other(format!("{value:?}")),
            },
        }
    } else if let Some(v) = value.as_f64() {
        // Safe integers read as integers, as serde-wasm-bindgen and JSON numbers do.
        if js_sys::Number::is_safe_integer(&value) {
            Kind::Signed(v as i64)
        } else {
            Kind::Float(v)
        }
    } else if let Some(text) = value.as_string() {
        Kind::Text(text)
    } else if Array::is_array(&value) {
        Kind::Seq(value.unchecked_into())
    } else if value.is_object() {
        Kind::Map(Object::entries(value.unchecked_ref()))
    } else {
        Kind::Other(format!("{value:?}"))
    }
}

impl Strict {
    fn any<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match kind(self.0) {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(v) => visitor.visit_bool(v),
            Kind::Signed(v) => visitor.visit_i64(v),
            Kind::Unsigned(v) => visitor.visit_u64(v),
            Kind::Float(v) => visitor.visit_f64(v),
            Kind::Text(v) => visitor.visit_string(v),
            Kind::Map(entries) => visitor.visit_map(StrictMap { entries: entries.into_iter(), value: None }),
            Kind::Seq(items) => visitor.visit_seq(StrictSeq(items.into_iter())),
            Kind::Other(what) => Err(serde::de::Error::invalid_type(Unexpected::Other(&what), &visitor)),
        }
    }
}

macro_rules! read_as_any {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.any(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for Strict {
    type Error = Error;

    read_as_any! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_undefined() || self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        JsDeserializer::from(self.0).deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        JsDeserializer::from(self.0).deserialize_enum(name, variants, visitor)
    }
}

struct StrictMap {
    entries: js_sys::ArrayIntoIter,
    value: Option<JsValue>,
}

impl<'de> MapAccess<'de> for StrictMap {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some(entry) => {
                let entry: Array = entry.unchecked_into();
                self.value = Some(entry.get(1));
                seed.deserialize(JsDeserializer::from(entry.get(0))).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Strict(self.value.take().unwrap_or(JsValue::UNDEFINED)))
    }
}

struct StrictSeq(js_sys::ArrayIntoIter);

impl<'de> SeqAccess<'de> for StrictSeq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(value) => seed.deserialize(Strict(value)).map(Some),
            None => Ok(None),
        }
    }
}

/// Writes a Rust value as plain JavaScript data: objects rather than Maps, numbers rather than
/// BigInts, so apps get the shapes the TypeScript types describe.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, SyncError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(unconvertible)
}

#[inline(never)]
fn unconvertible(e: Error) -> SyncError {
    SyncError::new(ErrorCode::Internal, format!("could not convert a result to JavaScript: {e}"))
}

/// The current time in Unix milliseconds, from the browser's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}

/// Reads a version number given by JavaScript (a non-negative safe integer).
pub fn version_arg(value: f64, name: &str) -> Result<u64, SyncError> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= 9_007_199_254_740_991.0 {
        Ok(value as u64)
    } else {
        // JavaScript shows the number: formatting floats in Rust would add about 14 KB to the module.
        let shown =
            js_sys::Number::from(value).to_string_with_radix(10).map(String::from).unwrap_or_default();
        Err(SyncError::invalid_argument(format!("{name} must be a non-negative integer, got {shown}")))
    }
}
