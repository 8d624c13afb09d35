//! Checks of JSON shapes that several areas share: an object's keys, and camelCase keys all
//! the way down (as scripts reading the dashboard's snapshot expect).

use serde_json::Value;

/// The keys of the object `v`, sorted.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("object expected: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// Every object key in `v` is camelCase, as scripts reading the snapshot expect.
pub fn assert_camel_case(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                assert!(
                    !k.contains('_') && !k.starts_with(|c: char| c.is_ascii_uppercase()),
                    "key '{k}' is not camelCase"
                );
                assert_camel_case(child);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_camel_case),
        _ => {}
    }
}
