//! `tributary ctl`: command-line client of the gRPC control API.
//!
//! ```text
//! tributary ctl [--server URL] [--token T] [--output json|table] streams list
//! tributary ctl streams get NAME | put NAME --spec JSON | put NAME -f FILE | delete NAME | watch [--prefix P]
//! tributary ctl pushes list | get NAME | put NAME --spec JSON | delete NAME | watch
//! tributary ctl nodes list
//! tributary ctl sessions list
//! ```
//!
//! Prints pretty JSON (the REST API's shapes: `{name, spec, status}`) or a
//! short table; watches print one JSON object per line. Errors go to stderr
//! with exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use proto::control as pb;
use proto::control::control_client::ControlClient;
use serde_json::{Value, json};
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Command-line client of the gRPC control API.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// URL of the gRPC control API.
    #[arg(
        long,
        env = "TRIBUTARY_SERVER",
        default_value = "http://127.0.0.1:4242",
        global = true
    )]
    server: String,
    /// The API token (sent as `authorization: Bearer TOKEN`).
    #[arg(long, env = "TRIBUTARY_API_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// How to print results.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Json, global = true)]
    output: Output,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// Pretty JSON (one compact object per line for watches).
    Json,
    /// A short table.
    Table,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Streams: their specs and live status.
    #[command(subcommand)]
    Streams(Items),
    /// Pushes: their specs and status.
    #[command(subcommand)]
    Pushes(Items),
    /// Nodes of the cluster with their load.
    #[command(subcommand)]
    Nodes(ListOnly),
    /// Viewers per stream by protocol.
    #[command(subcommand)]
    Sessions(ListOnly),
}

#[derive(Debug, clap::Subcommand)]
enum Items {
    /// Every item.
    List,
    /// One item.
    Get { name: String },
    /// Create or replace an item from its spec (JSON).
    Put {
        name: String,
        /// The spec as JSON text.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        spec: Option<String>,
        /// A file holding the spec as JSON (`-` reads standard input).
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Delete an item.
    Delete { name: String },
    /// Print every item, then each change, until interrupted.
    Watch {
        /// Only names starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum ListOnly {
    /// Every item.
    List,
}

/// Adds the token to every call.
#[derive(Clone)]
struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

type Client = ControlClient<InterceptedService<Channel, Bearer>>;

/// Runs the command; errors are printed and make the exit code 1.
pub(crate) fn run(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(execute(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(args: &Args) -> Result<Client, String> {
    let bearer = match args.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse()
                .map_err(|_| "the token must be printable ASCII".to_owned())?,
        ),
        None => None,
    };
    let endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|e| format!("bad --server URL {:?}: {e}", args.server))?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| {
        format!(
            "cannot reach the control API at {}: {} (is the server running with its gRPC port there? see --server or TRIBUTARY_SERVER)",
            args.server,
            chain(&e)
        )
    })?;
    Ok(ControlClient::with_interceptor(channel, Bearer(bearer)))
}

/// An error and its sources, "a: b: c".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(next) = source {
        let text = next.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = next.source();
    }
    s
}

fn explain(args: &Args, status: &tonic::Status) -> String {
    match status.code() {
        Code::Unauthenticated if args.token.is_none() => format!(
            "the server needs an API token and none was given (use --token or TRIBUTARY_API_TOKEN): {}",
            status.message()
        ),
        Code::Unauthenticated => format!(
            "the server refused the API token: it is wrong ({})",
            status.message()
        ),
        Code::Unavailable => format!(
            "the control API at {} is unavailable: {}",
            args.server,
            status.message()
        ),
        Code::NotFound => status.message().to_owned(),
        Code::InvalidArgument => format!("invalid request: {}", status.message()),
        code => format!("{code:?}: {}", status.message()),
    }
}

async fn execute(args: &Args) -> Result<(), String> {
    let mut c = connect(args).await?;
    let err = |s: tonic::Status| explain(args, &s);
    match &args.what {
        What::Streams(cmd) => match cmd {
            Items::List => {
                let r = c
                    .list_streams(pb::ListRequest {})
                    .await
                    .map_err(err)?
                    .into_inner();
                let items: Vec<Value> = r.streams.iter().map(stream_json).collect();
                print(args.output, &Value::Array(items), stream_rows);
            }
            Items::Get { name } => {
                let r = c
                    .get_stream(pb::GetRequest { name: name.clone() })
                    .await
                    .map_err(err)?;
                print(args.output, &stream_json(r.get_ref()), stream_rows);
            }
            Items::Put { name, spec, file } => {
                let spec_json = spec_text(spec.as_deref(), file.as_deref())?;
                let r = c
                    .put_stream(pb::Stream {
                        name: name.clone(),
                        spec_json,
                        ..Default::default()
                    })
                    .await
                    .map_err(err)?;
                print(args.output, &stream_json(r.get_ref()), stream_rows);
            }
            Items::Delete { name } => {
                c.delete_stream(pb::DeleteRequest { name: name.clone() })
                    .await
                    .map_err(err)?;
                eprintln!("deleted stream {name}");
            }
            Items::Watch { prefix } => {
                let mut events = c
                    .watch_streams(pb::WatchRequest {
                        prefix: prefix.clone(),
                    })
                    .await
                    .map_err(err)?
                    .into_inner();
                while let Some(event) = events.message().await.map_err(err)? {
                    let mut v = stream_json(&event);
                    v["deleted"] = event.deleted.into();
                    print_event(args.output, &v, stream_rows);
                }
            }
        },
        What::Pushes(cmd) => match cmd {
            Items::List => {
                let r = c.list_pushes(pb::ListRequest {}).await.map_err(err)?.into_inner();
                let items: Vec<Value> = r.pushes.iter().map(push_json).collect();
                print(args.output, &Value::Array(items), push_rows);
            }
            Items::Get { name } => {
                let r = c
                    .get_push(pb::GetRequest { name: name.clone() })
                    .await
                    .map_err(err)?;
                print(args.output, &push_json(r.get_ref()), push_rows);
            }
            Items::Put { name, spec, file } => {
                let spec_json = spec_text(spec.as_deref(), file.as_deref())?;
                let r = c
                    .put_push(pb::Push {
                        name: name.clone(),
                        spec_json,
                        ..Default::default()
                    })
                    .await
                    .map_err(err)?;
                print(args.output, &push_json(r.get_ref()), push_rows);
            }
            Items::Delete { name } => {
                c.delete_push(pb::DeleteRequest { name: name.clone() })
                    .await
                    .map_err(err)?;
                eprintln!("deleted push {name}");
            }
            Items::Watch { prefix } => {
                let mut events = c
                    .watch_pushes(pb::WatchRequest {
                        prefix: prefix.clone(),
                    })
                    .await
                    .map_err(err)?
                    .into_inner();
                while let Some(event) = events.message().await.map_err(err)? {
                    let mut v = push_json(&event);
                    v["deleted"] = event.deleted.into();
                    print_event(args.output, &v, push_rows);
                }
            }
        },
        What::Nodes(ListOnly::List) => {
            let r = c.list_nodes(pb::ListRequest {}).await.map_err(err)?.into_inner();
            let items: Vec<Value> = r
                .nodes
                .iter()
                .map(|n| json!({"id": n.id, "role": n.role, "info": parse(&n.info_json)}))
                .collect();
            print(args.output, &Value::Array(items), node_rows);
        }
        What::Sessions(ListOnly::List) => {
            let r = c
                .list_sessions(pb::ListRequest {})
                .await
                .map_err(err)?
                .into_inner();
            let items: Vec<Value> = r
                .sessions
                .iter()
                .map(|s| {
                    let by: std::collections::BTreeMap<_, _> = s.by_protocol.iter().collect();
                    json!({"stream": s.stream, "viewers": s.viewers, "byProtocol": by})
                })
                .collect();
            print(args.output, &Value::Array(items), session_rows);
        }
    }
    Ok(())
}

/// The spec text from `--spec` or `-f FILE` (`-`: standard input), checked to be JSON.
fn spec_text(spec: Option<&str>, file: Option<&std::path::Path>) -> Result<String, String> {
    let text = match (spec, file) {
        (Some(s), _) => s.to_owned(),
        (None, Some(p)) if p.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading standard input: {e}"))?
        }
        (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?,
        (None, None) => return Err("give the spec with --spec JSON or -f FILE".into()),
    };
    serde_json::from_str::<Value>(&text).map_err(|e| format!("the spec is not JSON: {e}"))?;
    Ok(text)
}

fn parse(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn stream_json(s: &pb::Stream) -> Value {
    json!({"name": s.name, "spec": parse(&s.spec_json), "status": parse(&s.status_json)})
}

fn push_json(p: &pb::Push) -> Value {
    let status = parse(&p.status_json);
    let mut v = json!({"name": p.name, "spec": parse(&p.spec_json), "status": status["status"]});
    if status["streams"].as_object().is_some_and(|m| !m.is_empty()) {
        v["streams"] = status["streams"].clone();
    }
    v
}

type Rows = fn(&Value) -> (Vec<&'static str>, Vec<String>);

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn stream_rows(v: &Value) -> (Vec<&'static str>, Vec<String>) {
    let state = if v["deleted"] == true {
        "deleted".to_owned()
    } else {
        text(&v["status"]["state"])
    };
    (
        vec!["NAME", "STATE", "VIEWERS", "SOURCE"],
        vec![
            text(&v["name"]),
            state,
            text(&v["status"]["viewers"]),
            text(&v["spec"]["source"]),
        ],
    )
}

fn push_rows(v: &Value) -> (Vec<&'static str>, Vec<String>) {
    let state = if v["deleted"] == true {
        "deleted".to_owned()
    } else {
        text(&v["status"]["state"])
    };
    (
        vec!["NAME", "STATE", "STREAM", "TARGET"],
        vec![
            text(&v["name"]),
            state,
            text(&v["spec"]["stream"]),
            text(&v["spec"]["target"]),
        ],
    )
}

fn node_rows(v: &Value) -> (Vec<&'static str>, Vec<String>) {
    let load = v["info"]["load"]
        .as_f64()
        .map_or_else(|| "-".into(), |l| format!("{:.0}%", l * 100.0));
    (
        vec!["ID", "ROLE", "LOAD", "STREAMS", "VIEWERS"],
        vec![
            text(&v["id"]),
            text(&v["role"]),
            load,
            text(&v["info"]["streams"]),
            text(&v["info"]["viewers"]),
        ],
    )
}

fn session_rows(v: &Value) -> (Vec<&'static str>, Vec<String>) {
    let by = v["byProtocol"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into());
    (
        vec!["STREAM", "VIEWERS", "BY PROTOCOL"],
        vec![text(&v["stream"]), text(&v["viewers"]), by],
    )
}

fn print(output: Output, v: &Value, rows: Rows) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Output::Table => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            print!("{}", table(&items, rows, true));
        }
    }
}

fn print_event(output: Output, v: &Value, rows: Rows) {
    match output {
        Output::Json => println!("{v}"),
        Output::Table => print!("{}", table(&[v], rows, false)),
    }
}

fn table(items: &[&Value], rows: Rows, header: bool) -> String {
    let (head, _) = rows(&Value::Null);
    let body: Vec<Vec<String>> = items.iter().map(|v| rows(v).1).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let n = cells.len();
        for (i, (cell, w)) in cells.into_iter().zip(&widths).enumerate() {
            if i + 1 == n {
                out.push_str(&cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
    };
    if header {
        line(head.iter().map(|h| (*h).to_owned()).collect());
    }
    for row in body {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let a =
            json!({"name": "cam1", "spec": {"source": "push://"}, "status": {"state": "live", "viewers": 3}});
        let b = json!({"name": "c", "spec": {"source": "srt://:9000"}, "status": {"state": "offline", "viewers": 0}});
        let t = table(&[&a, &b], stream_rows, true);
        assert_eq!(
            t,
            "NAME  STATE    VIEWERS  SOURCE\ncam1  live     3        push://\nc     offline  0        srt://:9000\n"
        );
    }
}
