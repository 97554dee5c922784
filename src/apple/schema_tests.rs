//! Checks the profiles we serialise against Apple's YAML schemas (copied, with provenance, in
//! `tests/fixtures/apple/`): no undeclared keys, required keys present, plist types and
//! `rangelist` values as declared, recursing into `subkeys`.
//!
//! How the schema format reads (`docs/schema.yaml`): each entry of `payloadkeys` has `key`,
//! `type` (one of the spellings in the meta-schema's enum), optional `presence`, `rangelist`,
//! `format`, `repetition`, and `subkeys`. For a `<dictionary>` the subkeys are its keys (a single
//! subkey named `ANY` means "any key"); for an `<array>` the one subkey describes each item.
//! Payload dictionaries may also carry the keys of `CommonPayloadKeys.yaml`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use plist::{Dictionary, Value};
use serde::Deserialize;

use super::profile::tests::{full_profile, parse, pkcs12_profile, test_ca, SETTINGS};
use super::profile::{CertificateFormat, CertificatePayload, Profile};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/apple/",
            $path
        ))
    };
}

const META_SCHEMA: &str = fixture!("docs/schema.yaml");
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
struct Schema {
    payload: SchemaPayload,
    payloadkeys: Vec<KeySpec>,
}

#[derive(Debug, Deserialize)]
struct SchemaPayload {
    payloadtype: String,
}

#[derive(Debug, Deserialize)]
struct KeySpec {
    key: String,
    #[serde(rename = "type")]
    ty: String,
    presence: Option<String>,
    #[serde(default)]
    subkeys: Vec<KeySpec>,
    rangelist: Option<Vec<serde_yaml_ng::Value>>,
    format: Option<String>,
    repetition: Option<Repetition>,
}

#[derive(Debug, Deserialize)]
struct Repetition {
    min: usize,
    max: usize,
}

struct Schemas {
    top_level: Schema,
    common: Schema,
    payloads: Vec<Schema>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas {
        top_level: serde_yaml_ng::from_str(TOP_LEVEL).unwrap(),
        common: serde_yaml_ng::from_str(COMMON_PAYLOAD_KEYS).unwrap(),
        payloads: PAYLOAD_SCHEMAS
            .iter()
            .map(|y| serde_yaml_ng::from_str(y).unwrap())
            .collect(),
    })
}

/// The schema's spelling of a plist value's type.
fn plist_type(v: &Value) -> &'static str {
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
fn check_payload(path: &str, dict: &Dictionary, errors: &mut Vec<String>) {
    let s = schemas();
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

/// Every schema violation in a serialised profile; empty means it conforms.
fn check_profile(top: &Dictionary) -> Vec<String> {
    let mut errors = Vec::new();
    let keys: Vec<&KeySpec> = schemas().top_level.payloadkeys.iter().collect();
    check_dict("Profile", top, &keys, &mut errors);
    if let Some(items) = top.get("PayloadContent").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            if let Some(d) = item.as_dictionary() {
                check_payload(&format!("Profile.PayloadContent[{i}]"), d, &mut errors);
            }
        }
    }
    errors
}

fn serialised(profile: &Profile) -> Dictionary {
    parse(&profile.to_xml_plist().unwrap())
}

/// The SCEP payload's inner `PayloadContent` dictionary of a serialised full profile.
fn scep_content(top: &mut Dictionary) -> &mut Dictionary {
    top.get_mut("PayloadContent")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.get_mut(1))
        .and_then(Value::as_dictionary_mut)
        .and_then(|scep| scep.get_mut("PayloadContent"))
        .and_then(Value::as_dictionary_mut)
        .unwrap()
}

fn all_types<'a>(keys: &'a [KeySpec], out: &mut BTreeSet<&'a str>) {
    for k in keys {
        out.insert(&k.ty);
        all_types(&k.subkeys, out);
    }
}

#[test]
fn validator_uses_the_meta_schema_type_spellings() {
    // The meta-schema is recursive (`subkeys: *payloadKeys` inside the `&payloadKeys` anchor);
    // a tree parser would expand that alias forever, so drop those lines first.
    let acyclic: String = META_SCHEMA
        .lines()
        .filter(|l| !l.trim_end().ends_with("*payloadKeys"))
        .map(|l| format!("{l}\n"))
        .collect();
    let meta: serde_yaml_ng::Value = serde_yaml_ng::from_str(&acyclic).unwrap();
    let spellings: BTreeSet<&str> = meta["properties"]["payloadkeys"]["items"]["properties"]
        ["type"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ours: BTreeSet<&str> = [
        Value::String(String::new()),
        Value::Integer(0.into()),
        Value::Real(0.5),
        Value::Boolean(true),
        Value::Date(std::time::SystemTime::UNIX_EPOCH.into()),
        Value::Data(vec![]),
        Value::Array(vec![]),
        Value::Dictionary(Dictionary::new()),
    ]
    .iter()
    .map(plist_type)
    .chain(["<any>"])
    .collect();
    assert_eq!(ours, spellings);

    let s = schemas();
    let mut used = BTreeSet::new();
    all_types(&s.top_level.payloadkeys, &mut used);
    all_types(&s.common.payloadkeys, &mut used);
    for p in &s.payloads {
        all_types(&p.payloadkeys, &mut used);
    }
    assert!(used.is_subset(&spellings), "{used:?}");
}

#[test]
fn full_profile_conforms_to_apple_schemas() {
    let top = serialised(&full_profile(&SETTINGS));
    assert_eq!(check_profile(&top), Vec::<String>::new());
}

#[test]
fn pkcs12_profile_conforms_to_apple_schemas() {
    let top = serialised(&pkcs12_profile());
    assert_eq!(check_profile(&top), Vec::<String>::new());
}

#[test]
fn pem_and_pkcs1_profile_conforms_to_apple_schemas() {
    let ca = test_ca();
    let mut profile = Profile::new("com.example.certdrop.trust", "Trust").unwrap();
    let pem = CertificatePayload::new(
        CertificateFormat::Pem,
        profile.payload_identifier("pem"),
        &ca.certificate.x509.to_pem().unwrap(),
    )
    .unwrap();
    let mut pkcs1 = CertificatePayload::new(
        CertificateFormat::Pkcs1,
        profile.payload_identifier("pkcs1"),
        &ca.certificate.der,
    )
    .unwrap();
    pkcs1.payload_certificate_file_name = Some("ca.cer".into());
    pkcs1.payload_display_name = Some("Example CA".into());
    profile.push(pem);
    profile.push(pkcs1);
    assert_eq!(check_profile(&serialised(&profile)), Vec::<String>::new());
}

#[test]
fn catches_misspelled_keysize() {
    let mut top = serialised(&full_profile(&SETTINGS));
    let content = scep_content(&mut top);
    let keysize = content.remove("Keysize").unwrap();
    content.insert("KeySize".into(), keysize);
    assert_eq!(
        check_profile(&top),
        ["Profile.PayloadContent[1].PayloadContent.KeySize: unknown key"]
    );
}

#[test]
fn catches_key_type_without_the_space() {
    // Apple's web example spells it KeyType; the schema and devices use "Key Type".
    let mut top = serialised(&full_profile(&SETTINGS));
    let content = scep_content(&mut top);
    let key_type = content.remove("Key Type").unwrap();
    content.insert("KeyType".into(), key_type);
    assert_eq!(
        check_profile(&top),
        ["Profile.PayloadContent[1].PayloadContent.KeyType: unknown key"]
    );
}

#[test]
fn catches_missing_required_keys() {
    let mut top = serialised(&full_profile(&SETTINGS));
    scep_content(&mut top).remove("URL");
    top.remove("PayloadUUID");
    let errors = check_profile(&top);
    assert_eq!(
        errors,
        [
            "Profile: missing required key PayloadUUID",
            "Profile.PayloadContent[1].PayloadContent: missing required key URL"
        ]
    );
}

#[test]
fn catches_wrong_types_and_values() {
    let mut top = serialised(&full_profile(&SETTINGS));
    let content = scep_content(&mut top);
    content.insert("Keysize".into(), Value::String("2048".into()));
    content.insert("CAFingerprint".into(), Value::String("ab:cd".into()));
    // Two levels instead of three: iOS fails enrollment on this (micromdm PR #40).
    content.insert(
        "Subject".into(),
        Value::Array(vec![Value::Array(vec![
            Value::String("CN".into()),
            Value::String("x".into()),
        ])]),
    );
    top.insert("PayloadVersion".into(), Value::Integer(2.into()));
    let errors = check_profile(&top);
    assert_eq!(
        errors,
        [
            "Profile.PayloadVersion: Integer(2) is not in rangelist [Number(1)]",
            "Profile.PayloadContent[1].PayloadContent.Subject[0][0]: <string>, schema says <array>",
            "Profile.PayloadContent[1].PayloadContent.Subject[0][1]: <string>, schema says <array>",
            "Profile.PayloadContent[1].PayloadContent.Keysize: <string>, schema says <integer>",
            "Profile.PayloadContent[1].PayloadContent.CAFingerprint: <string>, schema says <data>",
        ]
    );
}

#[test]
fn catches_subject_pair_of_wrong_length_and_bad_uuid_reference() {
    let mut top = serialised(&full_profile(&SETTINGS));
    let content = scep_content(&mut top);
    let pair = Value::Array(vec![Value::String("CN".into())]);
    content.insert(
        "Subject".into(),
        Value::Array(vec![Value::Array(vec![pair])]),
    );
    let wifi = top
        .get_mut("PayloadContent")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.get_mut(2))
        .and_then(Value::as_dictionary_mut)
        .unwrap();
    wifi.insert(
        "PayloadCertificateUUID".into(),
        Value::String("scep-payload".into()),
    );
    let errors = check_profile(&top);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("Profile.PayloadContent[1].PayloadContent.Subject[0][0]: 1 items")
    );
    assert!(
        errors[1].starts_with("Profile.PayloadContent[2].PayloadCertificateUUID: String(\"scep")
    );
}
