#![no_main]
//! Custom resources' names and specs from arbitrary JSON, as the operator
//! reads them: never a panic; an accepted spec round-trips through JSON; and
//! the status merge patch between two documents turns the first into the
//! second.
use libfuzzer_sys::fuzz_target;
use operator::decide::{merge_patch, parse_push, parse_stream};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (name, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => ("cam".to_owned(), data),
    };
    let Ok(value) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    if let Ok(spec) = parse_stream(&name, &value) {
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(parse_stream(&name, &back).as_ref(), Ok(&spec));
    }
    if let Ok(spec) = parse_push(&name, &value) {
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(parse_push(&name, &back).as_ref(), Ok(&spec));
    }
    if let Value::Array(pair) = &value
        && let [old, new] = pair.as_slice()
    {
        let patch = merge_patch(old, new);
        assert_eq!(&apply(old.clone(), &patch), new_without_nulls(new).as_ref().unwrap_or(new));
    }
});

/// RFC 7386's apply algorithm.
fn apply(target: Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut t = match target {
        Value::Object(t) => t,
        _ => serde_json::Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            let cur = t.remove(k).unwrap_or(Value::Null);
            t.insert(k.clone(), apply(cur, v));
        }
    }
    Value::Object(t)
}

/// A merge patch cannot express members whose value is null (they mean
/// "remove"); such documents are compared without them.
fn new_without_nulls(v: &Value) -> Option<Value> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    Some(strip(v))
}
