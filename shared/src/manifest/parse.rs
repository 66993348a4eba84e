//! Strict parsing: duplicate keys refused at any depth, unknown and missing fields named with
//! their path.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::ManifestError;
use super::{POLICY_FIELDS, Path, PolicyEntry, Role};

pub(super) fn parse_strict_json(raw: &[u8]) -> Result<Value, ManifestError> {
    if raw.is_empty() {
        return Err(ManifestError::Empty);
    }
    if raw.starts_with(&[0xef, 0xbb, 0xbf]) {
        return Err(ManifestError::ByteOrderMark);
    }
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(raw);
    let parsed = StrictValue {
        path: Path::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    parsed.map_err(|e| match duplicate.take() {
        Some(path) => ManifestError::DuplicateKey { path },
        None => {
            let (line, column) = (e.line(), e.column());
            let full = e.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            ManifestError::Syntax {
                line,
                column,
                message,
            }
        }
    })
}

/// Builds a [`Value`] like `serde_json::Value`'s own `Deserialize`, but rejects duplicate
/// object keys at any depth, recording the path in `duplicate`.
pub(super) struct StrictValue<'a> {
    path: Path<'a>,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(value) = seq.next_element_seed(StrictValue {
            path: Path::Index(&self.path, out.len()),
            duplicate: self.duplicate,
        })? {
            out.push(value);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictValue {
                path: Path::Field(&self.path, &key),
                duplicate: self.duplicate,
            })?;
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(Path::Field(&self.path, &key).to_string());
                return Err(de::Error::custom("duplicate key"));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn wrong_type(v: &Value, path: Path<'_>, expected: &'static str) -> ManifestError {
    ManifestError::WrongType {
        path: path.to_string(),
        expected,
        found: type_name(v),
    }
}

pub(super) fn as_object<'v>(
    v: &'v Value,
    path: Path<'_>,
) -> Result<&'v Map<String, Value>, ManifestError> {
    v.as_object()
        .ok_or_else(|| wrong_type(v, path, "an object"))
}

pub(super) fn check_fields(
    obj: &Map<String, Value>,
    path: Path<'_>,
    allowed: &'static [&'static str],
) -> Result<(), ManifestError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(field) => Err(ManifestError::UnknownField {
            path: Path::Field(&path, field).to_string(),
            field: field.clone(),
            expected: allowed,
            suggestion: allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(field))
                .copied(),
        }),
    }
}

pub(super) fn required<'v>(
    obj: &'v Map<String, Value>,
    path: Path<'_>,
    field: &'static str,
) -> Result<&'v Value, ManifestError> {
    obj.get(field).ok_or_else(|| ManifestError::MissingField {
        path: path.to_string(),
        field,
    })
}

pub(super) fn string(v: &Value, path: Path<'_>) -> Result<String, ManifestError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| wrong_type(v, path, "a string"))
}

pub(super) fn strings(v: &Value, path: Path<'_>) -> Result<Vec<String>, ManifestError> {
    let items = v
        .as_array()
        .ok_or_else(|| wrong_type(v, path, "an array of strings (use [] for none)"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string(item, Path::Index(&path, i)))
        .collect()
}

pub(super) fn policy_entry(v: &Value, path: Path<'_>) -> Result<PolicyEntry, ManifestError> {
    let obj = as_object(v, path)?;
    check_fields(obj, path, POLICY_FIELDS)?;
    let sans = strings(required(obj, path, "SANs")?, Path::Field(&path, "SANs"))?;
    let workload_secret_id = obj
        .get("WorkloadSecretID")
        .map(|v| string(v, Path::Field(&path, "WorkloadSecretID")))
        .transpose()?
        .filter(|id| !id.is_empty());
    let role = obj
        .get("Role")
        .map(|v| string(v, Path::Field(&path, "Role")))
        .transpose()?
        .map_or(Role::None, |r| Role::from_manifest(&r));
    Ok(PolicyEntry {
        sans,
        workload_secret_id,
        role,
    })
}
