//! Validation and normalization of what arrives from outside: changes from a provider (remote
//! batches) and ops in a push (on the server). Fail closed: a batch with one bad element is
//! refused whole with a canonical error naming the element, and nothing is applied.
//!
//! Field names are accepted in camelCase and snake_case (`tableName` / `table_name`,
//! `serverVersion` / `server_version`, `deviceId` / `device_id`, `opId` / `op_id`), because
//! backends written in other languages emit either. Unknown fields of a change are ignored and
//! the payload is kept as it is, unknown fields included.
//!
//! What arrives, before any check, is `input`; what a change or op is checked against, and
//! the checks, are `rules`.

mod input;
mod rules;

pub use input::{parse_json_batch, RawChange, RawStamp};
pub use rules::{
    is_valid_table_name, validate_push_ops, validate_remote_batch, validate_typed_ops, ValidationContext,
    ValidationLimits,
};

#[cfg(test)]
mod tests;
