//! Tests of the schema validator and of our profiles against it.

use std::collections::BTreeSet;

use plist::{Dictionary, Value};

use super::profile::tests::{full_profile, parse, pkcs12_profile, test_ca, SETTINGS};
use super::profile::{CertificateFormat, CertificatePayload, Profile};
use super::schema::*;

fn check_profile(top: &Dictionary) -> Vec<String> {
    super::schema::check_profile(top).unwrap()
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

    let s = schemas().unwrap();
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
