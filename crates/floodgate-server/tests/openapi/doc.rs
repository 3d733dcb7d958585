//! The document and what it says: references, operations, sample
//! requests, and whether an answer fits its schema.

use serde_json::Value;

use super::common::Reply;
use super::METHODS;

pub fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../floodgate-admin/src/openapi.json"
    );
    let text = std::fs::read_to_string(path).expect("the document exists");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// Follows `$ref` (`#/components/...`) until a value that is none.
pub fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: only local references"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{r} names nothing"));
    }
    v
}

/// Every `(path, method, operation)` of the document.
pub fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

/// The parameters of an operation (its path item's and its own), resolved.
fn parameters(doc: &Value, path: &str, op: &Value) -> Vec<Value> {
    let item = &doc["paths"][path];
    item["parameters"]
        .as_array()
        .into_iter()
        .chain(op["parameters"].as_array())
        .flatten()
        .map(|p| resolve(doc, p).clone())
        .collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The path with every path parameter replaced by its example, and the
/// required query parameters added.
pub fn sample_url(doc: &Value, base: &str, path: &str, op: &Value) -> String {
    let mut url = path.to_string();
    let mut query = Vec::new();
    for p in parameters(doc, path, op) {
        let name = p["name"].as_str().expect("a parameter name");
        let example = p["example"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: parameter {name} has no example"));
        match p["in"].as_str() {
            Some("path") => url = url.replace(&format!("{{{name}}}"), &percent_encode(example)),
            Some("query") if p["required"] == true => {
                query.push(format!("{name}={}", percent_encode(example)))
            }
            _ => {}
        }
    }
    assert!(
        !url.contains('{'),
        "{path}: a path parameter is not documented"
    );
    if query.is_empty() {
        format!("{base}{url}")
    } else {
        format!("{base}{url}?{}", query.join("&"))
    }
}

pub fn needs_if_match(doc: &Value, path: &str, op: &Value) -> bool {
    parameters(doc, path, op)
        .iter()
        .any(|p| p["in"] == "header" && p["name"] == "If-Match" && p["required"] == true)
}

/// Why `value` does not fit `schema`, if it does not (the subset of JSON
/// Schema the document uses).
pub fn misfit(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let schema = resolve(doc, schema);
    if let Some(all) = schema["allOf"].as_array() {
        if let Some(e) = all.iter().find_map(|s| misfit(doc, s, value, at)) {
            return Some(e);
        }
    }
    if let Some(one) = schema["oneOf"].as_array() {
        if one.iter().all(|s| misfit(doc, s, value, at).is_some()) {
            return Some(format!("{at}: {value} fits none of oneOf"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            return Some(format!("{at}: {value} is not {c}"));
        }
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(value) {
            return Some(format!("{at}: {value} is not one of {e:?}"));
        }
    }
    if let Some(t) = schema.get("type") {
        if let Some(e) = type_misfit(t, value, at) {
            return Some(e);
        }
    }
    if let Some(obj) = value.as_object() {
        if let Some(e) = object_misfit(doc, schema, obj, at) {
            return Some(e);
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            if let Some(e) = misfit(doc, items, v, &format!("{at}[{i}]")) {
                return Some(e);
            }
        }
    }
    None
}

/// Why `value` is not of the type `t` (a name or a list of names), if it
/// is not.
fn type_misfit(t: &Value, value: &Value, at: &str) -> Option<String> {
    let types: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => panic!("{at}: type {t}"),
    };
    let fits = types.iter().any(|t| match *t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("{at}: unknown type {other}"),
    });
    if !fits {
        return Some(format!("{at}: {value} is not {t}"));
    }
    None
}

/// Why the object `obj` does not fit the properties of `schema`, if it
/// does not.
fn object_misfit(
    doc: &Value,
    schema: &Value,
    obj: &serde_json::Map<String, Value>,
    at: &str,
) -> Option<String> {
    let props = schema["properties"].as_object();
    for r in schema["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        if !obj.contains_key(r) {
            return Some(format!("{at}: `{r}` is required"));
        }
    }
    for (k, v) in obj {
        let here = format!("{at}.{k}");
        match props.and_then(|p| p.get(k)) {
            Some(s) => {
                if let Some(e) = misfit(doc, s, v, &here) {
                    return Some(e);
                }
            }
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Some(format!("{here}: not a documented property"))
                }
                Some(s @ Value::Object(_)) => {
                    if let Some(e) = misfit(doc, s, v, &here) {
                        return Some(e);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

/// Checks an answer against what the document says of its status.
pub fn assert_documented_answer(doc: &Value, path: &str, method: &str, op: &Value, r: &Reply) {
    let status = r.status.as_str();
    let Some(response) = op["responses"].get(status) else {
        panic!(
            "{method} {path} answered {status}, which is not documented: {}",
            String::from_utf8_lossy(&r.body)
        );
    };
    let response = resolve(doc, response);
    if let Some(schema) = response["content"]["application/json"].get("schema") {
        if r.header("content-type") == Some("application/json") {
            if let Some(e) = misfit(doc, schema, &r.json(), "answer") {
                panic!("{method} {path} {status}: {e}");
            }
        }
    }
    if response["headers"].get("ETag").is_some() {
        assert!(
            r.header("etag").is_some(),
            "{method} {path} {status}: ETag documented, none sent"
        );
    }
}
