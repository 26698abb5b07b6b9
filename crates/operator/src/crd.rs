//! The `Stream` and `Push` custom resources (group `tributary.dev`, version
//! `v1alpha1`, namespaced). Their spec and status are the crate `spec`'s
//! types, so a CR's spec is exactly the body of the REST API and the value in
//! the store.

use kube::CustomResource;
use kube::core::CustomResourceExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec of a `Stream` resource: a [`spec::StreamSpec`].
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "Stream",
    plural = "streams",
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

/// Both custom resource definitions.
pub fn definitions() -> Vec<CustomResourceDefinition> {
    vec![Stream::crd(), Push::crd()]
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
    #[test]
    fn print() {
        println!("{}", super::definitions_yaml());
    }
}
