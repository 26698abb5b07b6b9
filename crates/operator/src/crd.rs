//! The `Stream` and `Push` custom resources (group `tributary.dev`, version
//! `v1alpha1`, namespaced). Their spec and status are the crate `spec`'s
//! types, so a CR's spec is exactly the body of the REST API and the value in
//! the store.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec of a `Stream` resource: a [`spec::StreamSpec`].
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "Stream",
    plural = "streams",
    doc = "A live stream: where its media comes from and how it is kept; the status is what the cluster reports about it.",
    shortname = "tst",
    namespaced,
    status = "spec::StreamStatus",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Viewers","type":"integer","jsonPath":".status.viewers"}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.source","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(transparent)]
pub struct StreamResourceSpec(pub spec::StreamSpec);

/// The spec of a `Push` resource: a [`spec::PushSpec`].
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "Push",
    plural = "pushes",
    doc = "A push: a stream sent to a target (SRT, RTMP, RTP, RIST, HTTP, or a recording file).",
    shortname = "tpush",
    namespaced,
    status = "spec::PushStatus",
    printcolumn = r#"{"name":"Stream","type":"string","jsonPath":".spec.stream"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.target"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(transparent)]
pub struct PushResourceSpec(pub spec::PushSpec);

/// Both custom resource definitions, with the checks the API server can make
/// up front added to the derived schemas: names fit the cluster's stream
/// names (at most 64 characters; no `+` in push names) and URLs are 1 to
/// 4096 characters.
pub fn definitions() -> Vec<CustomResourceDefinition> {
    vec![
        tighten(
            Stream::crd(),
            "source",
            "self.metadata.name.size() <= 64",
            "a stream name has at most 64 characters",
        ),
        tighten(
            Push::crd(),
            "target",
            "self.metadata.name.size() <= 64 && !self.metadata.name.contains('+')",
            "a push name has at most 64 characters and no '+'",
        ),
    ]
}

fn tighten(
    crd: CustomResourceDefinition,
    url_field: &str,
    name_rule: &str,
    message: &str,
) -> CustomResourceDefinition {
    let mut value = serde_json::to_value(&crd).expect("a CRD serializes");
    let Some(versions) = value.pointer_mut("/spec/versions").and_then(|v| v.as_array_mut()) else {
        return crd;
    };
    for version in versions {
        let Some(root) = version.pointer_mut("/schema/openAPIV3Schema") else {
            continue;
        };
        root["x-kubernetes-validations"] = serde_json::json!([{ "rule": name_rule, "message": message }]);
        if let Some(url) = root.pointer_mut(&format!("/properties/spec/properties/{url_field}")) {
            url["minLength"] = 1.into();
            url["maxLength"] = 4096.into();
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

/// The file names under `deploy/crds/` and their YAML.
pub fn definition_files() -> Vec<(String, String)> {
    definitions()
        .into_iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
            (name, serde_yaml::to_string(&crd).expect("a CRD serializes"))
        })
        .collect()
}

/// The definitions as one YAML document stream, as checked in under `deploy/crds/`.
pub fn definitions_yaml() -> String {
    let mut out = String::new();
    for crd in definitions() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd).expect("a CRD serializes"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_carry_the_cluster_rules() {
        let [stream, push] = <[_; 2]>::try_from(definitions()).unwrap();
        let root = |crd: &CustomResourceDefinition| {
            serde_json::to_value(&crd.spec.versions[0].schema).unwrap()["openAPIV3Schema"].clone()
        };
        let s = root(&stream);
        assert_eq!(
            s["x-kubernetes-validations"][0]["rule"],
            "self.metadata.name.size() <= 64"
        );
        assert_eq!(s["properties"]["spec"]["properties"]["source"]["maxLength"], 4096);
        assert_eq!(
            s["properties"]["spec"]["properties"]["dvrWindowSeconds"]["minimum"],
            1.0
        );
        assert_eq!(s["properties"]["spec"]["required"], serde_json::json!(["source"]));
        assert!(s["description"].as_str().unwrap().starts_with("A live stream"));
        let p = root(&push);
        assert!(
            p["x-kubernetes-validations"][0]["rule"]
                .as_str()
                .unwrap()
                .contains("'+'")
        );
        assert_eq!(p["properties"]["spec"]["properties"]["target"]["minLength"], 1);
        assert_eq!(stream.spec.scope, "Namespaced");
        assert_eq!(stream.spec.group, crate::GROUP);
        assert_eq!(stream.spec.versions[0].name, crate::VERSION);
        assert!(
            stream.spec.versions[0]
                .subresources
                .as_ref()
                .unwrap()
                .status
                .is_some()
        );
        let columns: Vec<_> = stream.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns, ["State", "Node", "Viewers", "Source", "Age"]);
    }
}
