//! JSON-schema transforms that keep the generated schemas valid as
//! Kubernetes *structural* schemas (the CRDs are generated from them).

use schemars::Schema;
use serde_json::Value;

/// Rewrites the `oneOf: [{const, description}, ...]` schemars emits for a
/// documented unit enum into `type: string, enum: [...]`, folding each
/// variant's doc into the description (`oneOf` of consts is not structural).
pub(crate) fn string_enum(schema: &mut Schema) {
    let Some(Value::Array(variants)) = schema.remove("oneOf") else {
        return;
    };
    let mut names = Vec::new();
    let mut docs = Vec::new();
    for v in &variants {
        let Some(name) = v.get("const").and_then(Value::as_str) else {
            schema.insert("oneOf".into(), Value::Array(variants));
            return;
        };
        names.push(Value::from(name));
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            docs.push(format!("`{name}`: {d}"));
        }
    }
    let description = match schema.get("description").and_then(Value::as_str) {
        Some(d) if !docs.is_empty() => format!("{d}\n\n{}", docs.join("\n")),
        Some(d) => d.to_owned(),
        None => docs.join("\n"),
    };
    schema.insert("type".into(), "string".into());
    schema.insert("enum".into(), Value::Array(names));
    if !description.is_empty() {
        schema.insert("description".into(), description.into());
    }
}
