//! The Helm chart (`deploy/helm/tributary`), the Grafana dashboard and the
//! examples, checked against the binary without Helm or a cluster.
//!
//! The chart is rendered by a small Go-template renderer below: exactly the
//! subset the chart uses (`if`/`else if`/`else`, `with`, `define`/`include`,
//! variables, pipelines, and Helm's `toYaml`, `nindent`, `indent`, `quote`,
//! `default`, `printf`, `trunc`, `trimSuffix`, `contains`, `join`, `eq`, `ne`,
//! `not`, `and`, `or`, `fail`, `required`). Anything else, a missing value or
//! printing a map, is an error, so the chart cannot silently rely on a
//! construct rendered differently by Helm.
//!
//! Every document is then deserialized by kind into k8s-openapi types and
//! serialized back: the round trip must give the document again, so a field
//! misspelled or put at the wrong level fails too.
//!
//! The dashboard's metric names are checked against what the binary really
//! exposes: an ingest and an edge node are started on a throw-away etcd and
//! their `/metrics` read (the relay families only exist on those roles;
//! families without samples yet still have their `# TYPE` line).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_yaml::Value;
use support::{request, wait_for};
use testkit::{free_tcp_port, free_udp_port};

const BIN: &str = env!("CARGO_BIN_EXE_tributary");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart_dir() -> PathBuf {
    repo().join("deploy/helm/tributary")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Files of a folder, sorted by name.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), read(&p)))
        .collect();
    out.sort();
    out
}

fn default_values() -> Value {
    serde_yaml::from_str(&read(&chart_dir().join("values.yaml"))).expect("values.yaml parses")
}

/// The second values set: external etcd, cert-manager TLS, ServiceMonitor, an API token.
fn second_values() -> Value {
    serde_yaml::from_str(
        r#"
etcd:
  enabled: false
  external:
    endpoints: ["http://etcd-a.db:2379", "http://etcd-b.db:2379"]
tls:
  mode: certManager
metrics:
  serviceMonitor:
    enabled: true
    labels:
      release: prometheus
apiToken:
  value: s3cret
ingest:
  advertise: dns
  service:
    type: LoadBalancer
    externalTrafficPolicy: Local
edge:
  autoscaling:
    enabled: false
  replicas: 3
operator:
  watchNamespace: media
  publicHttpUrl: https://live.example.com
"#,
    )
    .unwrap()
}

/// What `helm template tributary deploy/helm/tributary -n media` would
/// give for these user values: one YAML document per entry.
fn render(user: &Value) -> Vec<Value> {
    let chart: Value = serde_yaml::from_str(&read(&chart_dir().join("Chart.yaml"))).unwrap();
    let mut values = default_values();
    if !user.is_null() {
        tmpl::merge(&mut values, user);
    }
    let s = |v: &str| Value::String(v.to_owned());
    let root = tmpl::map(&[
        ("Values", values),
        (
            "Release",
            tmpl::map(&[
                ("Name", s("tributary")),
                ("Namespace", s("media")),
                ("Service", s("Helm")),
            ]),
        ),
        (
            "Chart",
            tmpl::map(&[
                ("Name", chart["name"].clone()),
                ("Version", chart["version"].clone()),
                ("AppVersion", chart["appVersion"].clone()),
            ]),
        ),
    ]);
    let templates = tmpl::Templates::parse(&files(&chart_dir().join("templates"))).unwrap();
    let mut docs = Vec::new();
    for (name, text) in templates.render(&root).unwrap() {
        if !name.ends_with(".yaml") {
            assert!(!text.trim().is_empty(), "{name} renders empty");
            continue;
        }
        for doc in text.split("\n---") {
            if doc
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let v: Value = serde_yaml::from_str(doc)
                .unwrap_or_else(|e| panic!("{name} renders invalid YAML: {e}\n{doc}"));
            docs.push(v);
        }
    }
    docs
}

/// Drops nulls from maps (the typed round trip omits absent fields), and
/// `apiVersion`/`kind` below the top (k8s-openapi writes them into embedded
/// resources such as volume claim templates).
fn normalized(v: serde_json::Value, top: bool) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .filter(|(k, v)| !v.is_null() && (top || (k != "apiVersion" && k != "kind")))
                .map(|(k, v)| (k, normalized(v, false)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(|v| normalized(v, false)).collect())
        }
        other => other,
    }
}

/// The first place where `a` and `b` differ, as a path.
fn difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => difference(p, q, &format!("{at}.{k}")),
                (p, q) => Some(format!("{at}.{k}: {p:?} vs {q:?}")),
            })
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| difference(p, q, &format!("{at}[{i}]"))),
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// Deserializes `doc` as `T` and checks that serializing it gives `doc` back.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> T {
    let t: T =
        serde_yaml::from_value(doc.clone()).unwrap_or_else(|e| panic!("{} {}: {e}", kind(doc), name(doc)));
    let original = normalized(serde_json::to_value(doc).unwrap(), true);
    let back = normalized(serde_json::to_value(&t).unwrap(), true);
    if let Some(d) = difference(&original, &back, "") {
        panic!(
            "{} {}: a field its type does not know, or misplaced (rendered vs typed): {d}",
            kind(doc),
            name(doc)
        );
    }
    t
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("?")
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("?")
}

/// The rendered chart, typed.
#[derive(Default)]
struct Rendered {
    deployments: BTreeMap<String, Deployment>,
    statefulsets: BTreeMap<String, StatefulSet>,
    services: BTreeMap<String, Service>,
    hpas: Vec<HorizontalPodAutoscaler>,
    pdbs: Vec<PodDisruptionBudget>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    secrets: Vec<Secret>,
    /// cert-manager and prometheus-operator resources, as YAML.
    custom: Vec<Value>,
}

fn classify(docs: &[Value]) -> Rendered {
    let mut r = Rendered::default();
    let mut seen = BTreeSet::new();
    for doc in docs {
        assert!(
            seen.insert((kind(doc).to_owned(), name(doc).to_owned())),
            "{} {} rendered twice",
            kind(doc),
            name(doc)
        );
        let api = doc["apiVersion"].as_str().unwrap_or("?");
        match (api, kind(doc)) {
            ("apps/v1", "Deployment") => {
                r.deployments.insert(name(doc).into(), typed(doc));
            }
            ("apps/v1", "StatefulSet") => {
                r.statefulsets.insert(name(doc).into(), typed(doc));
            }
            ("v1", "Service") => {
                r.services.insert(name(doc).into(), typed(doc));
            }
            ("autoscaling/v2", "HorizontalPodAutoscaler") => r.hpas.push(typed(doc)),
            ("policy/v1", "PodDisruptionBudget") => r.pdbs.push(typed(doc)),
            ("v1", "ServiceAccount") => r.service_accounts.push(typed(doc)),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => r.cluster_roles.push(typed(doc)),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => r.bindings.push(typed(doc)),
            ("rbac.authorization.k8s.io/v1", "Role") => r.roles.push(typed(doc)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => r.role_bindings.push(typed(doc)),
            ("v1", "Secret") => r.secrets.push(typed(doc)),
            ("v1", "ConfigMap") => {
                let _: ConfigMap = typed(doc);
            }
            ("cert-manager.io/v1", "Issuer" | "Certificate")
            | ("monitoring.coreos.com/v1", "ServiceMonitor") => {
                assert_eq!(
                    doc["metadata"]["namespace"].as_str(),
                    Some("media"),
                    "{}",
                    name(doc)
                );
                assert!(doc["spec"].is_mapping(), "{} {} has a spec", kind(doc), name(doc));
                r.custom.push(doc.clone());
            }
            (api, k) => panic!("unexpected kind {api} {k} ({})", name(doc)),
        }
    }
    r
}

/// `tributary ROLE --help`: its flags and their defaults.
struct Help {
    flags: BTreeMap<String, Option<String>>,
}

fn help(role: &str) -> Help {
    let out = Command::new(BIN).args([role, "--help"]).output().unwrap();
    assert!(out.status.success(), "{role} --help fails");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut flags = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t
            .strip_prefix("--")
            .or_else(|| t.split_once(", --").map(|(_, r)| r))
        {
            let flag = rest.split([' ', '=']).next().unwrap().to_owned();
            flags.insert(flag.clone(), None);
            last = Some(flag);
        }
        if let (Some(flag), Some((_, d))) = (&last, line.split_once("[default: ")) {
            flags.insert(flag.clone(), Some(d.split(']').next().unwrap().to_owned()));
        }
    }
    assert!(flags.len() > 3, "{role} --help lists flags: {text}");
    Help { flags }
}

impl Help {
    fn default_port(&self, flag: &str) -> u16 {
        let d = self
            .flags
            .get(flag)
            .unwrap_or_else(|| panic!("no --{flag}"))
            .as_deref();
        let addr: std::net::SocketAddr = d
            .unwrap_or_else(|| panic!("--{flag} has no default"))
            .parse()
            .unwrap();
        addr.port()
    }
}

fn pod_spec_of_deployment(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn pod_spec_of_statefulset(s: &StatefulSet) -> &PodSpec {
    s.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

/// The Tributary containers of the rendered chart: (workload, pod spec).
fn tributary_pods(r: &Rendered) -> Vec<(String, &PodSpec)> {
    let mut out: Vec<(String, &PodSpec)> = r
        .deployments
        .iter()
        .map(|(n, d)| (n.clone(), pod_spec_of_deployment(d)))
        .chain(
            r.statefulsets
                .iter()
                .map(|(n, s)| (n.clone(), pod_spec_of_statefulset(s))),
        )
        .filter(|(_, p)| {
            p.containers[0]
                .image
                .as_deref()
                .is_some_and(|i| i.starts_with("tributary:"))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn role(c: &Container) -> &str {
    c.args
        .as_ref()
        .and_then(|a| a.first())
        .map(String::as_str)
        .expect("args start with the role")
}

fn args(c: &Container) -> &[String] {
    c.args.as_deref().unwrap_or_default()
}

fn flag<'c>(c: &'c Container, name: &str) -> Option<&'c str> {
    args(c).iter().find_map(|a| a.strip_prefix(&format!("--{name}=")))
}

/// Which flag sets the port a container port name stands for.
fn port_flag(port: &str) -> &'static str {
    match port {
        "http" => "http-listen",
        "rtmp" => "rtmp-listen",
        "srt" => "srt-listen",
        "grpc" => "grpc-listen",
        "relay" => "relay-listen",
        "webrtc" => "webrtc-listen",
        other => panic!("container port {other} has no flag"),
    }
}

fn udp(port: &str) -> bool {
    matches!(port, "srt" | "relay" | "webrtc")
}

/// The checks every values set must pass.
fn check_common(r: &Rendered, helps: &BTreeMap<&str, Help>) {
    let pods = tributary_pods(r);
    let roles: BTreeSet<&str> = pods.iter().map(|(_, p)| role(&p.containers[0])).collect();
    assert_eq!(roles, BTreeSet::from(["edge", "ingest", "operator"]));
    for (workload, pod) in &pods {
        assert_eq!(pod.containers.len(), 1, "{workload}");
        let c = &pod.containers[0];
        let role = role(c);
        let help = &helps[role];
        // every flag the chart passes exists in the binary
        for a in &args(c)[1..] {
            let f = a
                .strip_prefix("--")
                .unwrap_or_else(|| panic!("{workload}: argument {a} is not a --flag=value"));
            let (f, v) = f
                .split_once('=')
                .unwrap_or_else(|| panic!("{workload}: {a} has no value"));
            assert!(
                help.flags.contains_key(f),
                "{workload}: `tributary {role}` has no --{f}"
            );
            assert!(!v.is_empty(), "{workload}: {a} is empty");
        }
        let etcd = flag(c, "etcd").unwrap_or_else(|| panic!("{workload}: no --etcd"));
        assert!(
            etcd.split(',')
                .all(|e| e.starts_with("http://") && e.ends_with(":2379")),
            "{etcd}"
        );
        // ports: the binary's defaults, with the right protocol
        let ports = c.ports.as_ref().expect("container ports");
        for p in ports {
            let pname = p.name.as_deref().unwrap();
            assert_eq!(
                p.container_port,
                i32::from(help.default_port(port_flag(pname))),
                "{workload}: port {pname} is not the default of --{}",
                port_flag(pname)
            );
            assert_eq!(
                p.protocol.as_deref(),
                Some(if udp(pname) { "UDP" } else { "TCP" }),
                "{workload} {pname}"
            );
        }
        let expected: BTreeSet<&str> = match role {
            "ingest" => BTreeSet::from(["http", "rtmp", "srt", "grpc", "relay", "webrtc"]),
            "edge" => BTreeSet::from(["http", "srt", "grpc", "webrtc"]),
            _ => BTreeSet::from(["http"]),
        };
        let names: BTreeSet<&str> = ports.iter().map(|p| p.name.as_deref().unwrap()).collect();
        assert_eq!(names, expected, "{workload} ports");
        // probes on the HTTP port
        for (probe, path) in [(&c.liveness_probe, "/healthz"), (&c.readiness_probe, "/readyz")] {
            let get = probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .unwrap_or_else(|| panic!("{workload}: no {path} probe"));
            assert_eq!(get.path.as_deref(), Some(path), "{workload}");
            assert_eq!(
                get.port,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into())
            );
        }
        let requests = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .expect("resource requests");
        assert!(
            requests.contains_key("cpu") && requests.contains_key("memory"),
            "{workload} requests"
        );
        // the pod's own name, namespace and IP come from the downward API
        let env = c.env.as_deref().unwrap_or_default();
        for (var, path) in [
            ("POD_NAME", "metadata.name"),
            ("POD_NAMESPACE", "metadata.namespace"),
        ] {
            let e = env
                .iter()
                .find(|e| e.name == var)
                .unwrap_or_else(|| panic!("{workload}: no {var}"));
            let field = e
                .value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .expect("fieldRef");
            assert_eq!(field.field_path, path);
        }
        // $(VAR) in arguments must name a variable of the container
        for a in args(c) {
            for var in a.split("$(").skip(1).map(|s| s.split(')').next().unwrap()) {
                assert!(
                    env.iter().any(|e| e.name == var),
                    "{workload}: {a} uses undefined $({var})"
                );
            }
        }
        let security = pod.security_context.as_ref().expect("pod security context");
        assert_eq!(security.run_as_non_root, Some(true), "{workload}");
    }
    // nodes take their id from the pod name
    for (workload, pod) in &pods {
        let c = &pod.containers[0];
        if role(c) != "operator" {
            assert_eq!(flag(c, "node-id"), Some("$(POD_NAME)"), "{workload}");
            assert!(flag(c, "advertise").is_some(), "{workload}");
        }
    }

    // Services: each port targets a container port of the same number and protocol
    for (sname, svc) in &r.services {
        let spec = svc.spec.as_ref().unwrap();
        let selector = spec.selector.as_ref().expect("selector");
        let matching: Vec<&PodSpec> = r
            .deployments
            .values()
            .map(|d| {
                (
                    d.spec.as_ref().unwrap().template.metadata.as_ref(),
                    pod_spec_of_deployment(d),
                )
            })
            .chain(r.statefulsets.values().map(|s| {
                (
                    s.spec.as_ref().unwrap().template.metadata.as_ref(),
                    pod_spec_of_statefulset(s),
                )
            }))
            .filter(|(m, _)| {
                let labels = m.and_then(|m| m.labels.as_ref()).unwrap();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .map(|(_, p)| p)
            .collect();
        assert_eq!(matching.len(), 1, "service {sname} selects one workload");
        for p in spec.ports.as_ref().unwrap() {
            let target = match &p.target_port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(t)) => t.clone(),
                other => panic!("{sname}: target port {other:?} is not a name"),
            };
            let cp = matching[0].containers[0]
                .ports
                .as_ref()
                .unwrap()
                .iter()
                .find(|c| c.name.as_deref() == Some(target.as_str()))
                .unwrap_or_else(|| panic!("{sname}: no container port {target}"));
            assert_eq!(p.port, cp.container_port, "{sname} {target}");
            assert_eq!(p.protocol, cp.protocol, "{sname} {target}");
            assert_eq!(p.name.as_deref(), Some(target.as_str()));
        }
    }
    let svc_ports = |n: &str| -> BTreeSet<(i32, String)> {
        r.services[n]
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| (p.port, p.protocol.clone().unwrap()))
            .collect()
    };
    let ingest = &helps["ingest"];
    assert_eq!(
        svc_ports("tributary-ingest"),
        BTreeSet::from([
            (i32::from(ingest.default_port("http-listen")), "TCP".into()),
            (i32::from(ingest.default_port("rtmp-listen")), "TCP".into()),
            (i32::from(ingest.default_port("srt-listen")), "UDP".into()),
            (i32::from(ingest.default_port("grpc-listen")), "TCP".into()),
        ])
    );
    assert!(
        svc_ports("tributary-ingest-headless")
            .contains(&(i32::from(ingest.default_port("relay-listen")), "UDP".into()))
    );
    let edge = &helps["edge"];
    assert_eq!(
        svc_ports("tributary-edge"),
        BTreeSet::from([
            (i32::from(edge.default_port("http-listen")), "TCP".into()),
            (i32::from(edge.default_port("srt-listen")), "UDP".into()),
            (i32::from(edge.default_port("grpc-listen")), "TCP".into()),
        ])
    );

    // the operator: two replicas, leader election through a Lease it may use
    let operator = &r.deployments["tributary-operator"];
    assert_eq!(operator.spec.as_ref().unwrap().replicas, Some(2));
    let op_pod = pod_spec_of_deployment(operator);
    let sa = op_pod
        .service_account_name
        .as_deref()
        .expect("operator service account");
    assert!(
        r.service_accounts
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(sa))
    );
    assert!(flag(&op_pod.containers[0], "leader-lease").is_some());
    let role = &r.cluster_roles[0];
    let binding = &r.bindings[0];
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    assert!(
        binding
            .subjects
            .as_ref()
            .unwrap()
            .iter()
            .any(|s| s.kind == "ServiceAccount" && s.name == sa && s.namespace.as_deref() == Some("media"))
    );
    let allows = |group: &str, resource: &str, verb: &str| {
        role.rules.as_ref().unwrap().iter().any(|rule| {
            rule.api_groups
                .as_ref()
                .is_some_and(|g| g.iter().any(|g| g == group))
                && rule
                    .resources
                    .as_ref()
                    .is_some_and(|r| r.iter().any(|r| r == resource))
                && rule.verbs.iter().any(|v| v == verb)
        })
    };
    for resource in [
        "streams",
        "pushes",
        "streams/status",
        "pushes/status",
        "streams/finalizers",
        "pushes/finalizers",
    ] {
        for verb in ["get", "list", "watch", "patch", "update"] {
            assert!(allows("tributary.dev", resource, verb), "{resource} {verb}");
        }
    }
    for (group, resource, verbs) in [
        ("events.k8s.io", "events", &["create", "patch"][..]),
        ("", "events", &["create", "patch"][..]),
    ] {
        for verb in verbs {
            assert!(allows(group, resource, verb), "{group} {resource} {verb}");
        }
    }
    // Leases: only in the release's namespace, get/update only on the operator's own.
    assert!(
        !allows("coordination.k8s.io", "leases", "get"),
        "no cluster-wide Lease access"
    );
    let lease = flag(&op_pod.containers[0], "leader-lease").unwrap();
    let leader_role = r
        .roles
        .iter()
        .find(|x| x.metadata.name.as_deref().is_some_and(|n| n.ends_with("-leader")))
        .expect("the leader Role");
    assert_eq!(leader_role.metadata.namespace.as_deref(), Some("media"));
    let rules = leader_role.rules.as_ref().unwrap();
    let named = |verb: &str| {
        rules.iter().any(|rule| {
            rule.verbs.iter().any(|v| v == verb)
                && rule
                    .resources
                    .as_ref()
                    .is_some_and(|r| r.iter().any(|r| r == "leases"))
                && rule
                    .resource_names
                    .as_ref()
                    .is_some_and(|n| n.iter().any(|n| *n == lease))
        })
    };
    assert!(named("get") && named("update"), "{rules:?}");
    assert!(
        rules
            .iter()
            .any(|rule| rule.verbs.iter().any(|v| v == "create") && rule.resource_names.is_none())
    );
    assert!(r.role_bindings.iter().any(|b| b.role_ref.kind == "Role"
        && Some(&b.role_ref.name) == leader_role.metadata.name.as_ref()
        && b.subjects.as_ref().unwrap().iter().any(|s| s.name == sa)));

    // disruption budgets for the operator, the ingests and the edges
    let pdb_targets: BTreeSet<String> = r
        .pdbs
        .iter()
        .map(|p| {
            p.spec
                .as_ref()
                .unwrap()
                .selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["app.kubernetes.io/component"]
                .clone()
        })
        .collect();
    assert_eq!(
        pdb_targets,
        BTreeSet::from(["edge".into(), "ingest".into(), "operator".into()])
    );
    // the ingest StatefulSet's service exists
    let ingest_sts = &r.statefulsets["tributary-ingest"];
    assert!(
        r.services
            .contains_key(&ingest_sts.spec.as_ref().unwrap().service_name.clone().unwrap())
    );
}

fn container<'r>(r: &'r Rendered, workload: &str) -> &'r Container {
    tributary_pods(r)
        .into_iter()
        .find(|(n, _)| n == workload)
        .map(|(_, p)| &p.containers[0])
        .unwrap_or_else(|| panic!("no workload {workload}"))
}

fn all_helps() -> BTreeMap<&'static str, Help> {
    ["ingest", "edge", "operator"]
        .into_iter()
        .map(|r| (r, help(r)))
        .collect()
}

#[test]
fn default_values_render_a_cluster_with_bundled_etcd_and_self_signed_relay() {
    let r = classify(&render(&Value::Null));
    check_common(&r, &all_helps());
    // bundled etcd, and every node points at it
    let etcd = &r.statefulsets["tributary-etcd"];
    assert_eq!(etcd.spec.as_ref().unwrap().replicas, Some(1));
    assert!(r.services.contains_key("tributary-etcd"));
    for w in ["tributary-ingest", "tributary-edge", "tributary-operator"] {
        assert_eq!(
            flag(container(&r, w), "etcd"),
            Some("http://tributary-etcd:2379"),
            "{w}"
        );
    }
    // zero-config relay TLS: no certificate flags, the ingest publishes its own
    for w in ["tributary-ingest", "tributary-edge"] {
        assert!(
            !args(container(&r, w))
                .iter()
                .any(|a| a.starts_with("--relay-c") || a.starts_with("--relay-key")),
            "{w}"
        );
    }
    assert_eq!(
        flag(container(&r, "tributary-ingest"), "advertise"),
        Some("$(POD_IP)")
    );
    // edges scale on CPU
    let hpa = &r.hpas[0];
    let spec = hpa.spec.as_ref().unwrap();
    assert_eq!(spec.scale_target_ref.kind, "Deployment");
    assert_eq!(spec.scale_target_ref.name, "tributary-edge");
    let metric = &spec.metrics.as_ref().unwrap()[0];
    assert_eq!(metric.resource.as_ref().unwrap().name, "cpu");
    assert_eq!(
        r.deployments["tributary-edge"].spec.as_ref().unwrap().replicas,
        None,
        "the HPA owns the replica count"
    );
    assert!(
        r.custom.is_empty(),
        "no cert-manager or ServiceMonitor resources by default"
    );
    assert!(r.secrets.is_empty());
}

#[test]
fn second_values_use_external_etcd_cert_manager_mutual_tls_and_a_service_monitor() {
    let r = classify(&render(&second_values()));
    check_common(&r, &all_helps());
    assert!(!r.statefulsets.contains_key("tributary-etcd") && !r.services.contains_key("tributary-etcd"));
    for w in ["tributary-ingest", "tributary-edge", "tributary-operator"] {
        assert_eq!(
            flag(container(&r, w), "etcd"),
            Some("http://etcd-a.db:2379,http://etcd-b.db:2379"),
            "{w}"
        );
    }
    let op = container(&r, "tributary-operator");
    assert_eq!(flag(op, "watch-namespace"), Some("media"));
    assert_eq!(flag(op, "public-http-url"), Some("https://live.example.com"));
    assert_eq!(
        flag(container(&r, "tributary-ingest"), "advertise"),
        Some("$(POD_NAME).tributary-ingest-headless.$(POD_NAMESPACE).svc")
    );
    assert_eq!(
        r.deployments["tributary-edge"].spec.as_ref().unwrap().replicas,
        Some(3)
    );
    assert!(r.hpas.is_empty());

    // cert-manager: a CA, and certificates whose secrets the nodes mount
    let certs: BTreeMap<&str, &Value> = r
        .custom
        .iter()
        .filter(|d| kind(d) == "Certificate")
        .map(|d| (d["spec"]["secretName"].as_str().unwrap(), d))
        .collect();
    assert_eq!(certs.len(), 3);
    assert_eq!(certs["tributary-relay-ca"]["spec"]["isCA"], Value::Bool(true));
    let issuers: BTreeSet<&str> = r
        .custom
        .iter()
        .filter(|d| kind(d) == "Issuer")
        .map(name)
        .collect();
    for cert in certs.values() {
        assert!(issuers.contains(cert["spec"]["issuerRef"]["name"].as_str().unwrap()));
    }
    let usages = |secret: &str| -> Vec<&str> {
        certs[secret]["spec"]["usages"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect()
    };
    assert!(usages("tributary-relay-ingest").contains(&"server auth"));
    assert!(usages("tributary-relay-edge").contains(&"client auth"));
    let server_name = "tributary-ingest.media.svc";
    assert_eq!(
        certs["tributary-relay-ingest"]["spec"]["dnsNames"][0].as_str(),
        Some(server_name)
    );

    let mounted = |w: &str, secret: &str| {
        let pod = tributary_pods(&r).into_iter().find(|(n, _)| n == w).unwrap().1;
        let volume = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(secret))
            .unwrap_or_else(|| panic!("{w} does not mount {secret}"));
        let mount = pod.containers[0]
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == volume.name)
            .unwrap();
        mount.mount_path.clone()
    };
    let dir = mounted("tributary-ingest", "tributary-relay-ingest");
    let ingest = container(&r, "tributary-ingest");
    assert_eq!(
        flag(ingest, "relay-cert"),
        Some(format!("{dir}/tls.crt").as_str())
    );
    assert_eq!(flag(ingest, "relay-key"), Some(format!("{dir}/tls.key").as_str()));
    assert_eq!(
        flag(ingest, "relay-client-ca"),
        Some(format!("{dir}/ca.crt").as_str())
    );
    assert_eq!(flag(ingest, "relay-server-name"), Some(server_name));
    let dir = mounted("tributary-edge", "tributary-relay-edge");
    let edge = container(&r, "tributary-edge");
    assert_eq!(flag(edge, "relay-ca"), Some(format!("{dir}/ca.crt").as_str()));
    assert_eq!(
        flag(edge, "relay-client-cert"),
        Some(format!("{dir}/tls.crt").as_str())
    );
    assert_eq!(
        flag(edge, "relay-client-key"),
        Some(format!("{dir}/tls.key").as_str())
    );

    // the API token reaches the nodes from the chart's Secret
    let secret = &r.secrets[0];
    assert!(secret.string_data.as_ref().unwrap().contains_key("token"));
    let env = ingest
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "TRIBUTARY_API_TOKEN")
        .expect("token env");
    let key = env.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
    assert_eq!(Some(&key.name), secret.metadata.name.as_ref());

    // the ServiceMonitor scrapes the `http` port of the services labelled for it
    let monitor = r
        .custom
        .iter()
        .find(|d| kind(d) == "ServiceMonitor")
        .expect("ServiceMonitor");
    assert_eq!(
        monitor["metadata"]["labels"]["release"].as_str(),
        Some("prometheus")
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"].as_str(), Some("http"));
    assert_eq!(monitor["spec"]["endpoints"][0]["path"].as_str(), Some("/metrics"));
    let wanted: BTreeMap<String, String> =
        serde_yaml::from_value(monitor["spec"]["selector"]["matchLabels"].clone()).unwrap();
    let scraped: BTreeSet<&str> = r
        .services
        .iter()
        .filter(|(_, s)| {
            let labels = s.metadata.labels.as_ref().unwrap();
            wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        scraped,
        BTreeSet::from([
            "tributary-edge",
            "tributary-ingest-headless",
            "tributary-operator"
        ]),
        "one service per component, so no pod is scraped twice"
    );
    let ingest_svc = r.services["tributary-ingest"].spec.as_ref().unwrap();
    assert_eq!(ingest_svc.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(ingest_svc.external_traffic_policy.as_deref(), Some("Local"));
}

#[test]
fn a_wrong_tls_mode_or_missing_external_etcd_fails_to_render() {
    for bad in [
        "tls: {mode: letsencrypt}",
        "etcd: {enabled: false}",
        "tls: {mode: existingSecret}",
        "ingest: {advertise: hostname}",
    ] {
        let user: Value = serde_yaml::from_str(bad).unwrap();
        let mut values = default_values();
        tmpl::merge(&mut values, &user);
        let result = std::panic::catch_unwind(|| render(&user));
        assert!(result.is_err(), "{bad} renders");
    }
}

#[test]
fn the_renderer_rejects_what_it_does_not_implement() {
    let root = tmpl::map(&[("Values", tmpl::map(&[("a", Value::String("x".into()))]))]);
    let render = |src: &str| {
        tmpl::Templates::parse(&[("t.yaml".to_owned(), src.to_owned())]).and_then(|t| t.render(&root))
    };
    assert_eq!(
        render("{{- /* c */ -}}\n  {{ .Values.a | quote }} {{ printf \"%s-%d\" .Values.a 3 }}").unwrap()[0].1,
        "\"x\" x-3"
    );
    assert_eq!(
        render("{{ if .Values.a }}y{{ else }}n{{ end }}").unwrap()[0].1,
        "y"
    );
    assert_eq!(
        render("{{ with .Values.a }}{{ . | trunc 1 }}{{ end }}|{{ \"a-\" | trimSuffix \"-\" }}").unwrap()[0]
            .1,
        "x|a"
    );
    for bad in [
        "{{ .Values.b }}",
        "{{ .Values }}",
        "{{ range .Values.a }}{{ end }}",
        "{{ upper .Values.a }}",
        "{{ template \"x\" . }}",
        "{{ if .Values.a }}",
        "{{ .Values.a",
        "{{ printf \"%q\" .Values.a }}",
    ] {
        assert!(render(bad).is_err(), "{bad} renders");
    }
}

#[test]
fn chart_crds_are_the_binary_output() {
    let out = Command::new(BIN).args(["operator", "crds"]).output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let crds = files(&chart_dir().join("crds"));
    let chart: String = crds.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        chart, generated,
        "deploy/helm/tributary/crds/ differs from `tributary operator crds`; regenerate with\n\
         cargo run -p tributary -- operator crds > deploy/helm/tributary/crds/crds.yaml"
    );
    let kinds: BTreeSet<String> = serde_yaml::Deserializer::from_str(&chart)
        .map(|d| {
            Value::deserialize(d).unwrap()["spec"]["names"]["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, BTreeSet::from(["Push".to_owned(), "Stream".to_owned()]));
}

use serde::Deserialize;

/// Every `.Values.a.b` a template names.
fn values_paths(text: &str) -> BTreeSet<String> {
    text.match_indices(".Values.")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect::<String>()
                .trim_end_matches('.')
                .to_owned()
        })
        .collect()
}

#[test]
fn every_value_a_template_uses_is_defined_and_documented() {
    let values = default_values();
    let mut used = BTreeSet::new();
    for (name, text) in files(&chart_dir().join("templates")) {
        for path in values_paths(&text) {
            let mut cur = &values;
            for key in path.split('.') {
                cur = cur
                    .as_mapping()
                    .and_then(|m| m.get(key))
                    .unwrap_or_else(|| panic!("{name} uses .Values.{path}, not in values.yaml"));
            }
            used.insert(path);
        }
    }
    assert!(used.len() > 40, "templates use {} values", used.len());
    // every key has a comment above it, but inside maps passed through as they
    // are (resources, security contexts)
    let text = read(&chart_dir().join("values.yaml"));
    let lines: Vec<&str> = text.lines().collect();
    let mut parents: Vec<(usize, String)> = Vec::new();
    let mut keys = 0;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with('-') {
            continue;
        }
        let indent = line.len() - t.len();
        let key = t.split(':').next().unwrap().to_owned();
        parents.retain(|(n, _)| *n < indent);
        let free_form = parents
            .iter()
            .any(|(_, p)| matches!(p.as_str(), "resources" | "podSecurityContext" | "securityContext"));
        if !free_form {
            keys += 1;
            let above = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim_start());
            assert!(
                above.is_some_and(|l| l.starts_with('#')),
                "values.yaml line {}: `{key}` has no comment",
                i + 1
            );
        }
        parents.push((indent, key));
    }
    assert!(keys > 60, "{keys} documented keys");
}

/// Every key of a schema object must be known to the CRD schema, recursively.
fn check_against_schema(doc: &Value, schema: &Value, at: &str) {
    match doc {
        Value::Mapping(m) => {
            let props = schema["properties"].as_mapping();
            if let Some(required) = schema["required"].as_sequence() {
                for r in required {
                    assert!(m.contains_key(r), "{at}: missing required {r:?}");
                }
            }
            for (k, v) in m {
                let key = k.as_str().unwrap();
                let sub = props
                    .and_then(|p| p.get(key))
                    .or_else(|| schema.get("additionalProperties"))
                    .unwrap_or_else(|| panic!("{at}.{key} is not in the CRD schema"));
                check_against_schema(v, sub, &format!("{at}.{key}"));
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|i| check_against_schema(i, &schema["items"], at)),
        Value::String(s) => {
            if let Some(options) = schema["enum"].as_sequence() {
                assert!(
                    options.iter().any(|o| o.as_str() == Some(s)),
                    "{at}: {s} not in {options:?}"
                );
            }
            assert!(
                schema["type"].as_str() == Some("string") || schema.get("type").is_none(),
                "{at}: string given"
            );
        }
        Value::Bool(_) => assert_eq!(schema["type"].as_str(), Some("boolean"), "{at}"),
        Value::Number(_) => assert_eq!(schema["type"].as_str(), Some("integer"), "{at}"),
        _ => {}
    }
}

#[test]
fn examples_are_valid_stream_and_push_resources() {
    let crds: Vec<Value> = serde_yaml::Deserializer::from_str(&read(&chart_dir().join("crds/crds.yaml")))
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let mut kinds = BTreeMap::new();
    for file in ["examples/stream.yaml", "examples/push.yaml"] {
        for d in serde_yaml::Deserializer::from_str(&read(&repo().join(file))) {
            let doc = Value::deserialize(d).unwrap();
            let kind = kind(&doc).to_owned();
            let crd = crds
                .iter()
                .find(|c| c["spec"]["names"]["kind"].as_str() == Some(kind.as_str()))
                .unwrap_or_else(|| panic!("{file}: no CRD for {kind}"));
            let version = &crd["spec"]["versions"][0];
            assert_eq!(
                doc["apiVersion"].as_str().unwrap(),
                format!(
                    "{}/{}",
                    crd["spec"]["group"].as_str().unwrap(),
                    version["name"].as_str().unwrap()
                )
            );
            let meta_name = name(&doc);
            assert!(
                spec::StreamName::parse(meta_name).is_ok(),
                "{file}: {meta_name} is a stream/push name"
            );
            let schema = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
            check_against_schema(&doc["spec"], schema, &format!("{file} {meta_name}.spec"));
            kinds.entry(kind).or_insert_with(Vec::new).push(doc);
        }
    }
    let sources: Vec<&str> = kinds["Stream"]
        .iter()
        .map(|d| d["spec"]["source"].as_str().unwrap())
        .collect();
    assert!(sources.iter().any(|s| s.starts_with("push://")), "{sources:?}");
    assert!(sources.iter().any(|s| !s.starts_with("push://")), "{sources:?}");
    for s in &sources {
        spec::Source::parse(s).unwrap_or_else(|e| panic!("source {s}: {e}"));
    }
    let streams: BTreeSet<&str> = kinds["Stream"].iter().map(name).collect();
    for push in &kinds["Push"] {
        assert!(
            streams.contains(push["spec"]["stream"].as_str().unwrap()),
            "push of an example stream"
        );
    }
}

/// A node process killed on drop.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Metric names a `/metrics` page offers, counting families without samples
/// yet by their `# TYPE` line (OpenMetrics: counters get `_total`, histograms
/// `_bucket`, `_sum`, `_count`).
fn exposed_names(text: &str, into: &mut BTreeSet<String>) {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap();
            match kind {
                "counter" => {
                    into.insert(format!("{family}_total"));
                }
                "histogram" => {
                    for s in ["_bucket", "_sum", "_count"] {
                        into.insert(format!("{family}{s}"));
                    }
                }
                _ => {
                    into.insert(family.to_owned());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            into.insert(line.split(['{', ' ']).next().unwrap().to_owned());
        }
    }
}

/// Runs `role` against `etcd` on free ports and returns its `/metrics` page.
fn scrape(role: &str, etcd: &str) -> String {
    let http = free_tcp_port();
    let mut cmd = Command::new(BIN);
    cmd.args([
        role,
        "--etcd",
        etcd,
        "--node-id",
        &format!("{role}-chart"),
        "--lease-ttl",
        "3",
    ])
    .args(["--http-listen", &format!("127.0.0.1:{http}")])
    .args(["--srt-listen", &format!("127.0.0.1:{}", free_udp_port())])
    .args(["--grpc-listen", &format!("127.0.0.1:{}", free_tcp_port())]);
    if role == "ingest" {
        cmd.args(["--rtmp-listen", &format!("127.0.0.1:{}", free_tcp_port())])
            .args(["--relay-listen", &format!("127.0.0.1:{}", free_udp_port())]);
    }
    let _node = Node(cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap());
    let url = format!("http://127.0.0.1:{http}");
    wait_for(20, &format!("{role} /readyz"), || {
        request("GET", &format!("{url}/readyz"), None).is_some_and(|(s, _)| s == 200)
    });
    let (status, text) = request("GET", &format!("{url}/metrics"), None).expect("/metrics answers");
    assert_eq!(status, 200);
    text
}

/// Every `expr` of the dashboard, recursively.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// Metric names in a PromQL expression: the words with our prefixes.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let word: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let before = rest[..i].chars().last();
        rest = &rest[i + word.len()..];
        // label values inside quotes and label names are not metrics
        if (word.starts_with("tributary_") || word.starts_with("process_")) && before != Some('"') {
            out.insert(word);
        }
    }
    out
}

#[test]
fn grafana_dashboard_queries_only_metrics_the_nodes_expose() {
    let dash: serde_json::Value = serde_json::from_str(&read(&repo().join("deploy/grafana/tributary.json")))
        .expect("dashboard JSON parses");
    let vars = dash["templating"]["list"].as_array().expect("template variables");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let panels = dash["panels"].as_array().unwrap();
    let mut used = BTreeSet::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {}",
            panel["title"]
        );
        let mut e = Vec::new();
        exprs(panel, &mut e);
        assert!(!e.is_empty(), "panel {} queries something", panel["title"]);
        for expr in &e {
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} names no metric");
            used.extend(names);
        }
    }
    for wanted in [
        "tributary_streams_live",
        "tributary_stream_viewers",
        "tributary_stream_ingest_bits_per_second",
        "tributary_relay_latency_seconds_bucket",
        "tributary_relay_sent_bytes_total",
        "tributary_relay_dropped_groups_total",
        "tributary_node_load",
    ] {
        assert!(used.contains(wanted), "the dashboard shows {wanted}");
    }

    let Some(etcd) = testkit::etcd::Etcd::start("chart") else {
        return;
    };
    let mut exposed = BTreeSet::new();
    for role in ["ingest", "edge"] {
        exposed_names(&scrape(role, &etcd.url()), &mut exposed);
    }
    // A labelled family shows nothing until its first sample (dropped groups
    // need congestion), so the relay's families are also taken from the relay
    // crate's own registration, with a sample in each, under the prefix the
    // nodes use: every name it gives that has samples must be what the nodes
    // really expose, which proves the two agree.
    let reference = control::metrics::Metrics::new();
    let relay = reference.register(|r| relay::Metrics::register(r.sub_registry_with_prefix("tributary")));
    relay
        .dropped_groups
        .get_or_create(&vec![("stream".to_owned(), "cam".to_owned())])
        .inc();
    let mut registered = BTreeSet::new();
    exposed_names(&reference.encode().unwrap(), &mut registered);
    let unseen: Vec<&String> = registered.iter().filter(|n| !exposed.contains(*n)).collect();
    assert_eq!(
        unseen,
        ["tributary_relay_dropped_groups_total"],
        "relay families the nodes do not expose"
    );
    exposed.extend(registered);
    let missing: Vec<&String> = used.iter().filter(|m| !exposed.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which no node exposes; exposed: {exposed:?}"
    );
}

/// A renderer for the subset of Go templates (and of Helm's functions) the
/// chart uses. Anything outside it is an error naming the construct, so a
/// template that would render differently under Helm fails here instead.
mod tmpl {
    use std::collections::HashMap;

    use serde_yaml::{Mapping, Value};

    type Result<T> = std::result::Result<T, String>;

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        LParen,
        RParen,
        Pipe,
        Decl,
        Lit(Value),
        Field(Vec<String>),
        Var(String, Vec<String>),
        Ident(String),
    }

    #[derive(Debug, Clone)]
    enum Arg {
        Field(Vec<String>),
        Var(String, Vec<String>),
        Lit(Value),
        Func(String),
        Sub(Pipeline),
    }

    #[derive(Debug, Clone)]
    struct Pipeline {
        decl: Option<String>,
        cmds: Vec<Vec<Arg>>,
    }

    #[derive(Debug, Clone)]
    enum Node {
        Text(String),
        Out(Pipeline),
        If(Vec<(Pipeline, Vec<Self>)>, Vec<Self>),
        With(Pipeline, Vec<Self>, Vec<Self>),
    }

    enum Item {
        Text(String),
        Act(Vec<Tok>),
    }

    /// Splits a template into text and actions, applying `{{-` and `-}}`.
    fn lex(src: &str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut rest = src;
        let mut trim_next = false;
        while !rest.is_empty() {
            let (text, after) = match rest.find("{{") {
                Some(i) => (&rest[..i], Some(&rest[i + 2..])),
                None => (rest, None),
            };
            let mut text = if trim_next { text.trim_start() } else { text };
            let Some(after) = after else {
                items.push(Item::Text(text.to_owned()));
                break;
            };
            let mut body = after;
            if let Some(b) = body.strip_prefix("- ") {
                text = text.trim_end();
                body = b;
            } else if body.starts_with('-') {
                return Err(format!(
                    "`{{{{-` must be followed by a space near `{}`",
                    head(body)
                ));
            }
            items.push(Item::Text(text.to_owned()));
            let end = find_close(body)?;
            let mut inner = &body[..end];
            trim_next = false;
            if let Some(i) = inner.strip_suffix(" -") {
                inner = i;
                trim_next = true;
            }
            rest = &body[end + 2..];
            let inner = inner.trim();
            if inner.starts_with("/*") {
                if !inner.ends_with("*/") {
                    return Err(format!("unterminated comment `{}`", head(inner)));
                }
                continue;
            }
            items.push(Item::Act(tokens(inner)?));
        }
        Ok(items)
    }

    fn head(s: &str) -> String {
        s.chars().take(40).collect()
    }

    /// Index of the `}}` closing an action, skipping quoted strings.
    fn find_close(s: &str) -> Result<usize> {
        let b = s.as_bytes();
        let mut i = 0;
        while i + 1 < b.len() {
            match b[i] {
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'}' if b[i + 1] == b'}' => return Ok(i),
                _ => {}
            }
            i += 1;
        }
        Err(format!("unclosed action `{}`", head(s)))
    }

    fn is_word(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }

    fn path(s: &str) -> Vec<String> {
        s.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn tokens(s: &str) -> Result<Vec<Tok>> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        let take = |i: &mut usize, ok: &dyn Fn(char) -> bool| {
            let start = *i;
            while *i < chars.len() && ok(chars[*i]) {
                *i += 1;
            }
            chars[start..*i].iter().collect::<String>()
        };
        while i < chars.len() {
            let c = chars[i];
            match c {
                ' ' | '\t' | '\n' => i += 1,
                '(' => {
                    out.push(Tok::LParen);
                    i += 1;
                }
                ')' => {
                    out.push(Tok::RParen);
                    i += 1;
                }
                '|' => {
                    out.push(Tok::Pipe);
                    i += 1;
                }
                ':' if chars.get(i + 1) == Some(&'=') => {
                    out.push(Tok::Decl);
                    i += 2;
                }
                '"' => {
                    let mut lit = String::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(format!("unterminated string in `{s}`")),
                            Some('"') => break,
                            Some('\\') => {
                                match chars.get(i + 1) {
                                    Some('n') => lit.push('\n'),
                                    Some('"') => lit.push('"'),
                                    Some('\\') => lit.push('\\'),
                                    other => return Err(format!("escape {other:?} in `{s}`")),
                                }
                                i += 2;
                            }
                            Some(&ch) => {
                                lit.push(ch);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    out.push(Tok::Lit(Value::String(lit)));
                }
                '.' => {
                    let p = take(&mut i, &|c| is_word(c) || c == '.');
                    out.push(Tok::Field(path(&p)));
                }
                '$' => {
                    i += 1;
                    let name = take(&mut i, &is_word);
                    let p = take(&mut i, &|c| is_word(c) || c == '.');
                    out.push(Tok::Var(name, path(&p)));
                }
                c if c.is_ascii_digit() || c == '-' => {
                    let n = take(&mut i, &|c| c.is_ascii_digit() || c == '.' || c == '-');
                    let v: Value = serde_yaml::from_str(&n).map_err(|e| format!("number {n}: {e}"))?;
                    if !v.is_number() {
                        return Err(format!("bad number `{n}` in `{s}`"));
                    }
                    out.push(Tok::Lit(v));
                }
                c if is_word(c) => {
                    let w = take(&mut i, &is_word);
                    out.push(match w.as_str() {
                        "true" => Tok::Lit(Value::Bool(true)),
                        "false" => Tok::Lit(Value::Bool(false)),
                        "nil" => Tok::Lit(Value::Null),
                        _ => Tok::Ident(w),
                    });
                }
                _ => return Err(format!("unsupported character `{c}` in `{s}`")),
            }
        }
        Ok(out)
    }

    fn pipeline(toks: &[Tok]) -> Result<Pipeline> {
        let (decl, toks) = match toks {
            [Tok::Var(name, p), Tok::Decl, rest @ ..] if p.is_empty() => (Some(name.clone()), rest),
            _ => (None, toks),
        };
        let mut cmds = vec![Vec::new()];
        let mut i = 0;
        while i < toks.len() {
            let arg = match &toks[i] {
                Tok::Pipe => {
                    cmds.push(Vec::new());
                    i += 1;
                    continue;
                }
                Tok::LParen => {
                    let mut depth = 0;
                    let start = i + 1;
                    loop {
                        match toks.get(i) {
                            Some(Tok::LParen) => depth += 1,
                            Some(Tok::RParen) => depth -= 1,
                            None => return Err("unbalanced parentheses".into()),
                            _ => {}
                        }
                        if depth == 0 {
                            break;
                        }
                        i += 1;
                    }
                    Arg::Sub(pipeline(&toks[start..i])?)
                }
                Tok::RParen => return Err("unbalanced parentheses".into()),
                Tok::Decl => return Err("`:=` only after a lone variable".into()),
                Tok::Lit(v) => Arg::Lit(v.clone()),
                Tok::Field(p) => Arg::Field(p.clone()),
                Tok::Var(n, p) => Arg::Var(n.clone(), p.clone()),
                Tok::Ident(f) => Arg::Func(f.clone()),
            };
            cmds.last_mut().unwrap().push(arg);
            i += 1;
        }
        if cmds.iter().any(Vec::is_empty) {
            return Err("empty command in a pipeline".into());
        }
        Ok(Pipeline { decl, cmds })
    }

    enum Close {
        Eof,
        End,
        Else(Option<Pipeline>),
    }

    struct Parser {
        items: Vec<Item>,
        pos: usize,
        defines: HashMap<String, Vec<Node>>,
    }

    impl Parser {
        fn list(&mut self) -> Result<(Vec<Node>, Close)> {
            let mut nodes = Vec::new();
            while self.pos < self.items.len() {
                let i = self.pos;
                self.pos += 1;
                let toks = match &self.items[i] {
                    Item::Text(t) => {
                        if !t.is_empty() {
                            nodes.push(Node::Text(t.clone()));
                        }
                        continue;
                    }
                    Item::Act(t) => t.clone(),
                };
                let keyword = match toks.first() {
                    Some(Tok::Ident(k)) => k.as_str(),
                    None => return Err("empty action".into()),
                    _ => "",
                };
                match keyword {
                    "end" => return Ok((nodes, Close::End)),
                    "else" => {
                        let rest = &toks[1..];
                        return match rest.first() {
                            None => Ok((nodes, Close::Else(None))),
                            Some(Tok::Ident(k)) if k == "if" => {
                                Ok((nodes, Close::Else(Some(pipeline(&rest[1..])?))))
                            }
                            _ => Err("only `else` and `else if` are supported".into()),
                        };
                    }
                    "if" => {
                        let mut arms = vec![(pipeline(&toks[1..])?, Vec::new())];
                        let mut otherwise = Vec::new();
                        loop {
                            let (body, end) = self.list()?;
                            match end {
                                Close::Eof => return Err("`if` without `end`".into()),
                                Close::End => {
                                    arms.last_mut().unwrap().1 = body;
                                    break;
                                }
                                Close::Else(Some(p)) => {
                                    arms.last_mut().unwrap().1 = body;
                                    arms.push((p, Vec::new()));
                                }
                                Close::Else(None) => {
                                    arms.last_mut().unwrap().1 = body;
                                    let (body, end) = self.list()?;
                                    if !matches!(end, Close::End) {
                                        return Err("`else` not closed by `end`".into());
                                    }
                                    otherwise = body;
                                    break;
                                }
                            }
                        }
                        nodes.push(Node::If(arms, otherwise));
                    }
                    "with" => {
                        let p = pipeline(&toks[1..])?;
                        let (body, end) = self.list()?;
                        let otherwise = match end {
                            Close::End => Vec::new(),
                            Close::Else(None) => match self.list()? {
                                (b, Close::End) => b,
                                _ => return Err("`with ... else` not closed by `end`".into()),
                            },
                            _ => return Err("`with` not closed by `end`".into()),
                        };
                        nodes.push(Node::With(p, body, otherwise));
                    }
                    "define" => {
                        let Some(Tok::Lit(Value::String(name))) = toks.get(1) else {
                            return Err("`define` needs a string name".into());
                        };
                        let (body, end) = self.list()?;
                        if !matches!(end, Close::End) {
                            return Err(format!("define {name} not closed by `end`"));
                        }
                        if self.defines.insert(name.clone(), body).is_some() {
                            return Err(format!("template {name} defined twice"));
                        }
                    }
                    "range" | "template" | "block" | "break" | "continue" => {
                        return Err(format!("`{keyword}` is outside the supported subset"));
                    }
                    _ => nodes.push(Node::Out(pipeline(&toks)?)),
                }
            }
            Ok((nodes, Close::Eof))
        }
    }

    /// The chart's templates, parsed.
    pub(crate) struct Templates {
        defines: HashMap<String, Vec<Node>>,
        files: Vec<(String, Vec<Node>)>,
    }

    impl Templates {
        /// Parses every file (`name`, `text`); `define`s are shared by all.
        pub(crate) fn parse(files: &[(String, String)]) -> Result<Self> {
            let mut defines = HashMap::new();
            let mut parsed = Vec::new();
            for (name, text) in files {
                let mut p = Parser {
                    items: lex(text).map_err(|e| format!("{name}: {e}"))?,
                    pos: 0,
                    defines: std::mem::take(&mut defines),
                };
                let (nodes, end) = p.list().map_err(|e| format!("{name}: {e}"))?;
                if !matches!(end, Close::Eof) {
                    return Err(format!("{name}: `end` or `else` without a block"));
                }
                defines = p.defines;
                parsed.push((name.clone(), nodes));
            }
            Ok(Self {
                defines,
                files: parsed,
            })
        }

        /// Renders every file (but `_*` helper files) with `root` as `.`.
        pub(crate) fn render(&self, root: &Value) -> Result<Vec<(String, String)>> {
            let mut out = Vec::new();
            for (name, nodes) in &self.files {
                if name.starts_with('_') {
                    continue;
                }
                let mut exec = Exec {
                    t: self,
                    root,
                    vars: Vec::new(),
                    depth: 0,
                };
                let mut text = String::new();
                exec.list(nodes, root, &mut text)
                    .map_err(|e| format!("{name}: {e}"))?;
                out.push((name.clone(), text));
            }
            Ok(out)
        }
    }

    struct Exec<'a> {
        t: &'a Templates,
        root: &'a Value,
        vars: Vec<(String, Value)>,
        depth: usize,
    }

    /// Go's truth: false, 0, nil and empty values are false.
    pub(crate) fn truthy(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Sequence(s) => !s.is_empty(),
            Value::Mapping(m) => !m.is_empty(),
            Value::Tagged(_) => true,
        }
    }

    fn text(v: &Value) -> Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!("cannot print {other:?} (Helm would print Go syntax)")),
        }
    }

    fn get(v: &Value, path: &[String]) -> Result<Value> {
        let mut cur = v;
        for (i, key) in path.iter().enumerate() {
            let Value::Mapping(m) = cur else {
                return Err(format!("`.{}`: not a map at `{key}`", path.join(".")));
            };
            cur = m.get(key.as_str()).ok_or_else(|| {
                format!(
                    "`.{}`: no key `{key}` (the value is not defined)",
                    path[..=i].join(".")
                )
            })?;
        }
        Ok(cur.clone())
    }

    fn int(v: &Value, f: &str) -> Result<i64> {
        v.as_i64().ok_or_else(|| format!("{f}: {v:?} is not an integer"))
    }

    fn string<'v>(v: &'v Value, f: &str) -> Result<&'v str> {
        v.as_str().ok_or_else(|| format!("{f}: {v:?} is not a string"))
    }

    fn indent(n: i64, s: &str) -> String {
        let pad = " ".repeat(usize::try_from(n).unwrap_or(0));
        format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
    }

    fn printf(args: &[Value]) -> Result<String> {
        let (fmt, args) = args.split_first().ok_or("printf without a format")?;
        let fmt = string(fmt, "printf")?;
        let mut out = String::new();
        let mut args = args.iter();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('s' | 'v') => out.push_str(&text(args.next().ok_or("printf: too few arguments")?)?),
                Some('d') => out.push_str(
                    &int(args.next().ok_or("printf: too few arguments")?, "printf %d")?.to_string(),
                ),
                other => return Err(format!("printf verb {other:?} outside the subset")),
            }
        }
        if args.next().is_some() {
            return Err(format!("printf {fmt:?}: too many arguments"));
        }
        Ok(out)
    }

    fn same_kind(a: &Value, b: &Value) -> bool {
        std::mem::discriminant(a) == std::mem::discriminant(b)
    }

    impl Exec<'_> {
        fn list(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
            let scope = self.vars.len();
            for node in nodes {
                match node {
                    Node::Text(t) => out.push_str(t),
                    Node::Out(p) => {
                        let v = self.pipeline(p, dot)?;
                        if p.decl.is_none() {
                            out.push_str(&text(&v)?);
                        }
                    }
                    Node::If(arms, otherwise) => {
                        let mut done = false;
                        for (cond, body) in arms {
                            if truthy(&self.pipeline(cond, dot)?) {
                                self.list(body, dot, out)?;
                                done = true;
                                break;
                            }
                        }
                        if !done {
                            self.list(otherwise, dot, out)?;
                        }
                    }
                    Node::With(p, body, otherwise) => {
                        let v = self.pipeline(p, dot)?;
                        if truthy(&v) {
                            self.list(body, &v, out)?;
                        } else {
                            self.list(otherwise, dot, out)?;
                        }
                    }
                }
            }
            self.vars.truncate(scope);
            Ok(())
        }

        fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value> {
            let mut prev = None;
            for cmd in &p.cmds {
                prev = Some(self.command(cmd, dot, prev)?);
            }
            let v = prev.unwrap_or(Value::Null);
            if let Some(name) = &p.decl {
                self.vars.push((name.clone(), v.clone()));
            }
            Ok(v)
        }

        fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value> {
            match a {
                Arg::Lit(v) => Ok(v.clone()),
                Arg::Field(p) => get(dot, p),
                Arg::Var(name, p) => {
                    let base = if name.is_empty() {
                        self.root.clone()
                    } else {
                        self.vars
                            .iter()
                            .rev()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.clone())
                            .ok_or_else(|| format!("undefined variable ${name}"))?
                    };
                    get(&base, p)
                }
                Arg::Sub(p) => self.pipeline(p, dot),
                Arg::Func(f) => self.call(f, Vec::new()),
            }
        }

        fn command(&mut self, cmd: &[Arg], dot: &Value, prev: Option<Value>) -> Result<Value> {
            match cmd {
                [Arg::Func(f), rest @ ..] => {
                    let mut args = rest
                        .iter()
                        .map(|a| self.arg(a, dot))
                        .collect::<Result<Vec<_>>>()?;
                    args.extend(prev);
                    self.call(f, args)
                }
                [single] if prev.is_none() => self.arg(single, dot),
                _ => Err(format!("{cmd:?} is not a function but has arguments")),
            }
        }

        fn call(&mut self, f: &str, args: Vec<Value>) -> Result<Value> {
            let n = args.len();
            let arity = |want: usize| {
                if n == want {
                    Ok(())
                } else {
                    Err(format!("{f} takes {want} arguments, got {n}"))
                }
            };
            let s = |v: String| Ok(Value::String(v));
            match f {
                "include" => {
                    arity(2)?;
                    let name = string(&args[0], f)?;
                    let body = self
                        .t
                        .defines
                        .get(name)
                        .ok_or_else(|| format!("no template {name}"))?;
                    self.depth += 1;
                    if self.depth > 50 {
                        return Err(format!("include {name}: recursion"));
                    }
                    let saved = std::mem::take(&mut self.vars);
                    let mut out = String::new();
                    let r = self.list(body, &args[1], &mut out);
                    self.vars = saved;
                    self.depth -= 1;
                    r.map_err(|e| format!("in {name}: {e}"))?;
                    s(out)
                }
                "toYaml" => {
                    arity(1)?;
                    let y = serde_yaml::to_string(&args[0]).map_err(|e| e.to_string())?;
                    s(y.trim_end_matches('\n').to_owned())
                }
                "nindent" | "indent" => {
                    arity(2)?;
                    let body = indent(int(&args[0], f)?, &text(&args[1])?);
                    s(if f == "nindent" { format!("\n{body}") } else { body })
                }
                "quote" => {
                    arity(1)?;
                    s(serde_json::to_string(&text(&args[0])?).unwrap())
                }
                "default" => {
                    arity(2)?;
                    Ok(if truthy(&args[1]) {
                        args[1].clone()
                    } else {
                        args[0].clone()
                    })
                }
                "printf" => s(printf(&args)?),
                "trunc" => {
                    arity(2)?;
                    let n = usize::try_from(int(&args[0], f)?).map_err(|_| "trunc: negative length")?;
                    s(string(&args[1], f)?.chars().take(n).collect())
                }
                "trimSuffix" => {
                    arity(2)?;
                    let (suffix, v) = (string(&args[0], f)?, string(&args[1], f)?);
                    s(v.strip_suffix(suffix).unwrap_or(v).to_owned())
                }
                "contains" => {
                    arity(2)?;
                    Ok(Value::Bool(string(&args[1], f)?.contains(string(&args[0], f)?)))
                }
                "join" => {
                    arity(2)?;
                    let sep = string(&args[0], f)?;
                    let Value::Sequence(items) = &args[1] else {
                        return Err(format!("join: {:?} is not a list", args[1]));
                    };
                    s(items.iter().map(text).collect::<Result<Vec<_>>>()?.join(sep))
                }
                "eq" | "ne" => {
                    arity(2)?;
                    if !same_kind(&args[0], &args[1]) {
                        return Err(format!("{f}: incompatible types {:?} and {:?}", args[0], args[1]));
                    }
                    Ok(Value::Bool((args[0] == args[1]) == (f == "eq")))
                }
                "not" => {
                    arity(1)?;
                    Ok(Value::Bool(!truthy(&args[0])))
                }
                "and" => Ok(args
                    .iter()
                    .find(|v| !truthy(v))
                    .or(args.last())
                    .cloned()
                    .unwrap_or(Value::Null)),
                "or" => Ok(args
                    .iter()
                    .find(|v| truthy(v))
                    .or(args.last())
                    .cloned()
                    .unwrap_or(Value::Null)),
                "fail" => {
                    arity(1)?;
                    Err(format!("fail: {}", text(&args[0])?))
                }
                "required" => {
                    arity(2)?;
                    if truthy(&args[1]) {
                        Ok(args[1].clone())
                    } else {
                        Err(format!("required: {}", text(&args[0])?))
                    }
                }
                other => Err(format!("function `{other}` is outside the supported subset")),
            }
        }
    }

    /// Helm's merge of user values over the chart's: maps deep, the rest replaced.
    pub(crate) fn merge(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Mapping(b), Value::Mapping(o)) => {
                for (k, v) in o {
                    match b.get_mut(k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            (slot, v) => *slot = v.clone(),
        }
    }

    /// A map from string keys.
    pub(crate) fn map(pairs: &[(&str, Value)]) -> Value {
        let mut m = Mapping::new();
        for (k, v) in pairs {
            m.insert(Value::String((*k).to_owned()), v.clone());
        }
        Value::Mapping(m)
    }
}
