//! Checks profiles (ours, or any .mobileconfig) against Apple's YAML schemas (copied, with provenance, in
//! `tests/fixtures/apple/`): no undeclared keys, required keys present, plist types and
//! `rangelist` values as declared, recursing into `subkeys`.
//!
//! How the schema format reads (`docs/schema.yaml`): each entry of `payloadkeys` has `key`,
//! `type` (one of the spellings in the meta-schema's enum), optional `presence`, `rangelist`,
//! `format`, `repetition`, and `subkeys`. For a `<dictionary>` the subkeys are its keys (a single
//! subkey named `ANY` means "any key"); for an `<array>` the one subkey describes each item.
//! Payload dictionaries may also carry the keys of `CommonPayloadKeys.yaml`.

use std::sync::OnceLock;

use plist::{Dictionary, Value};
use serde::Deserialize;

use super::ProfileError;

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/apple/",
            $path
        ))
    };
}

#[cfg(test)]
pub(super) const META_SCHEMA: &str = fixture!("docs/schema.yaml");
const TOP_LEVEL: &str = fixture!("mdm/profiles/TopLevel.yaml");
const COMMON_PAYLOAD_KEYS: &str = fixture!("mdm/profiles/CommonPayloadKeys.yaml");
const PAYLOAD_SCHEMAS: [&str; 7] = [
    fixture!("mdm/profiles/com.apple.security.root.yaml"),
    fixture!("mdm/profiles/com.apple.security.pkcs1.yaml"),
    fixture!("mdm/profiles/com.apple.security.pem.yaml"),
    fixture!("mdm/profiles/com.apple.security.pkcs12.yaml"),
    fixture!("mdm/profiles/com.apple.security.scep.yaml"),
    fixture!("mdm/profiles/com.apple.wifi.managed.yaml"),
    fixture!("mdm/profiles/com.apple.vpn.managed.yaml"),
];

/// The `format` Apple gives UUID references; the only `format` regex this validator knows.
const UUID_FORMAT: &str =
    "^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}$";

#[derive(Debug, Deserialize)]
pub(super) struct Schema {
    payload: SchemaPayload,
    pub(super) payloadkeys: Vec<KeySpec>,
}

#[derive(Debug, Deserialize)]
struct SchemaPayload {
    payloadtype: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct KeySpec {
    key: String,
    #[serde(rename = "type")]
    pub(super) ty: String,
    presence: Option<String>,
    #[serde(default)]
    pub(super) subkeys: Vec<KeySpec>,
    rangelist: Option<Vec<serde_yaml_ng::Value>>,
    format: Option<String>,
    repetition: Option<Repetition>,
}

#[derive(Debug, Deserialize)]
struct Repetition {
    min: usize,
    max: usize,
}

pub(super) struct Schemas {
    pub(super) top_level: Schema,
    pub(super) common: Schema,
    pub(super) payloads: Vec<Schema>,
}

fn load() -> Result<Schemas, String> {
    let parse = |y: &str| serde_yaml_ng::from_str::<Schema>(y).map_err(|e| e.to_string());
    Ok(Schemas {
        top_level: parse(TOP_LEVEL)?,
        common: parse(COMMON_PAYLOAD_KEYS)?,
        payloads: PAYLOAD_SCHEMAS
            .iter()
            .map(|y| parse(y))
            .collect::<Result<_, _>>()?,
    })
}

/// Apple's schemas, parsed once (they are compiled in).
pub(super) fn schemas() -> Result<&'static Schemas, ProfileError> {
    static SCHEMAS: OnceLock<Result<Schemas, String>> = OnceLock::new();
    SCHEMAS
        .get_or_init(load)
        .as_ref()
        .map_err(|e| ProfileError::Malformed(format!("Apple schema: {e}")))
}

/// The schema's spelling of a plist value's type.
pub(super) fn plist_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "<string>",
        Value::Integer(_) => "<integer>",
        Value::Real(_) => "<real>",
        Value::Boolean(_) => "<boolean>",
        Value::Date(_) => "<date>",
        Value::Data(_) => "<data>",
        Value::Array(_) => "<array>",
        Value::Dictionary(_) => "<dictionary>",
        _ => "<not in the schema language>",
    }
}

fn in_rangelist(v: &Value, list: &[serde_yaml_ng::Value]) -> bool {
    list.iter().any(|allowed| match (v, allowed) {
        (Value::String(s), serde_yaml_ng::Value::String(a)) => s == a,
        (Value::Integer(i), serde_yaml_ng::Value::Number(n)) => {
            i.as_signed().is_some() && i.as_signed() == n.as_i64()
        }
        (Value::Real(r), serde_yaml_ng::Value::Number(n)) => Some(*r) == n.as_f64(),
        _ => false,
    })
}

fn is_uuid_shaped(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_alphanumeric()))
}

fn check_dict(path: &str, dict: &Dictionary, keys: &[&KeySpec], errors: &mut Vec<String>) {
    if let [any] = keys {
        if any.key == "ANY" {
            for (k, v) in dict {
                check_value(&format!("{path}.{k}"), v, any, errors);
            }
            return;
        }
    }
    for (k, v) in dict {
        match keys.iter().find(|s| s.key == *k) {
            Some(spec) => check_value(&format!("{path}.{k}"), v, spec, errors),
            None => errors.push(format!("{path}.{k}: unknown key")),
        }
    }
    for spec in keys {
        if spec.presence.as_deref() == Some("required") && !dict.contains_key(&spec.key) {
            errors.push(format!("{path}: missing required key {}", spec.key));
        }
    }
}

fn check_value(path: &str, v: &Value, spec: &KeySpec, errors: &mut Vec<String>) {
    let ty = plist_type(v);
    if spec.ty != "<any>" && spec.ty != ty {
        errors.push(format!("{path}: {ty}, schema says {}", spec.ty));
        return;
    }
    if let Some(list) = &spec.rangelist {
        if !in_rangelist(v, list) {
            errors.push(format!("{path}: {v:?} is not in rangelist {list:?}"));
        }
    }
    if spec.format.as_deref() == Some(UUID_FORMAT) && !v.as_string().is_some_and(is_uuid_shaped) {
        errors.push(format!("{path}: {v:?} does not match {UUID_FORMAT}"));
    }
    match v {
        Value::Dictionary(d) if !spec.subkeys.is_empty() => {
            let keys: Vec<&KeySpec> = match spec.subkeys.as_slice() {
                // TopLevel.yaml describes ConsentText as a dictionary whose one subkey,
                // `ConsentTextItem`, is a dictionary of language codes. The key's own text (and
                // Apple's documentation) put the language codes directly under ConsentText:
                // `<Key>Item` names the dictionary itself, as `PayloadContentItem` names items.
                [item] if item.ty == "<dictionary>" && item.key == format!("{}Item", spec.key) => {
                    item.subkeys.iter().collect()
                }
                subkeys => subkeys.iter().collect(),
            };
            check_dict(path, d, &keys, errors);
        }
        Value::Array(items) if !spec.subkeys.is_empty() => {
            let [item] = spec.subkeys.as_slice() else {
                errors.push(format!("{path}: schema gives several item types"));
                return;
            };
            if let Some(r) = &item.repetition {
                if items.len() < r.min || items.len() > r.max {
                    errors.push(format!(
                        "{path}: {} items, schema says {} to {}",
                        items.len(),
                        r.min,
                        r.max
                    ));
                }
            }
            for (i, x) in items.iter().enumerate() {
                check_value(&format!("{path}[{i}]"), x, item, errors);
            }
        }
        _ => {}
    }
}

/// Check a payload dictionary against its own schema plus CommonPayloadKeys.yaml.
fn check_payload(s: &Schemas, path: &str, dict: &Dictionary, errors: &mut Vec<String>) {
    let payload_type = dict.get("PayloadType").and_then(Value::as_string);
    let Some(schema) = s
        .payloads
        .iter()
        .find(|x| Some(x.payload.payloadtype.as_str()) == payload_type)
    else {
        errors.push(format!(
            "{path}: no schema for PayloadType {payload_type:?}"
        ));
        return;
    };
    let keys: Vec<&KeySpec> = schema
        .payloadkeys
        .iter()
        .chain(&s.common.payloadkeys)
        .collect();
    check_dict(path, dict, &keys, errors);
}

/// Every schema violation in a profile's top-level dictionary; empty means it conforms.
pub fn check_profile(top: &Dictionary) -> Result<Vec<String>, ProfileError> {
    let s = schemas()?;
    let mut errors = Vec::new();
    let keys: Vec<&KeySpec> = s.top_level.payloadkeys.iter().collect();
    check_dict("Profile", top, &keys, &mut errors);
    if let Some(items) = top.get("PayloadContent").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            if let Some(d) = item.as_dictionary() {
                check_payload(s, &format!("Profile.PayloadContent[{i}]"), d, &mut errors);
            }
        }
    }
    Ok(errors)
}
