//! The gRPC control API (`tributary.control.v1.Control`, port 4242): the
//! same [`Service`] as the REST API, spec and status as the JSON of the one
//! Rust type, plus gRPC server reflection (v1 and v1alpha).
//!
//! | error | gRPC code |
//! |---|---|
//! | no such stream or push | `NOT_FOUND` |
//! | bad name, spec or JSON | `INVALID_ARGUMENT` |
//! | this node runs no pushes | `UNAVAILABLE` |
//! | could not save | `INTERNAL` |
//! | missing or wrong token | `UNAUTHENTICATED` |
//!
//! The token ([`ApiToken`]) guards every call of the control service;
//! reflection stays open (it tells the schema, which is public, and lets
//! tools like grpcurl find the service before they hold a token).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use proto::control as pb;
use proto::control::control_server::{Control, ControlServer};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use crate::auth::{ApiToken, GrpcAuth};
use crate::{ApiError, PushView, Service, StreamView};

/// How often a watch looks at statuses between spec changes.
const WATCH_POLL: Duration = Duration::from_secs(1);

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::NotFound(_) | ApiError::NoPush(_) => Self::not_found(message),
            ApiError::Invalid(_) => Self::invalid_argument(message),
            ApiError::Unavailable(_) => Self::unavailable(message),
            ApiError::Persist(_) => Self::internal(message),
        }
    }
}

/// The control service's gRPC face.
#[derive(Clone)]
pub struct ControlApi {
    service: Arc<Service>,
}

impl ControlApi {
    /// The API over `service`.
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }
}

/// The gRPC routes: the control service behind the token (when one is set)
/// and reflection (open). Serve them with [`serve`], or add them to a
/// `tonic::transport::Server` of your own.
pub fn routes(service: Arc<Service>, token: Option<ApiToken>) -> tonic::service::Routes {
    let control = ControlServer::with_interceptor(ControlApi::new(service), GrpcAuth(token));
    let mut routes = tonic::service::Routes::new(control);
    match tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
    {
        Ok(v1) => routes = routes.add_service(v1),
        Err(e) => tracing::error!(%e, "grpc reflection v1 unavailable"),
    }
    match tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
    {
        Ok(v1alpha) => routes = routes.add_service(v1alpha),
        Err(e) => tracing::error!(%e, "grpc reflection v1alpha unavailable"),
    }
    routes
}

/// Serves the gRPC API (control service and reflection) on `listener` until
/// `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    token: Option<ApiToken>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_routes(routes(service, token))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn stream_message(v: &StreamView) -> pb::Stream {
    pb::Stream {
        name: v.name.clone(),
        spec_json: json(&v.spec),
        status_json: json(&v.status),
        deleted: false,
    }
}

fn push_message(v: &PushView) -> pb::Push {
    pb::Push {
        name: v.name.clone(),
        spec_json: json(&v.spec),
        status_json: json(&serde_json::json!({ "status": v.status, "streams": v.streams })),
        deleted: false,
    }
}

fn parse_spec<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, Status> {
    serde_json::from_str(text).map_err(|e| Status::invalid_argument(format!("{what} spec_json: {e}")))
}

#[tonic::async_trait]
impl Control for ControlApi {
    async fn put_stream(&self, request: Request<pb::Stream>) -> Result<Response<pb::Stream>, Status> {
        let m = request.into_inner();
        let spec = parse_spec("stream", &m.spec_json)?;
        let view = self.service.put_stream(&m.name, spec)?;
        Ok(Response::new(stream_message(&view)))
    }

    async fn get_stream(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::Stream>, Status> {
        let view = self.service.get_stream(&request.into_inner().name)?;
        Ok(Response::new(stream_message(&view)))
    }

    async fn list_streams(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListStreamsResponse>, Status> {
        let streams = self.service.list_streams().iter().map(stream_message).collect();
        Ok(Response::new(pb::ListStreamsResponse { streams }))
    }

    async fn delete_stream(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.service.delete_stream(&request.into_inner().name)?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    type WatchStreamsStream = ReceiverStream<Result<pb::Stream, Status>>;

    async fn watch_streams(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStreamsStream>, Status> {
        let service = self.service.clone();
        let items = move || {
            service
                .list_streams()
                .iter()
                .map(|v| {
                    // a change worth telling: the spec, the state, the error
                    let key = json(&(&v.spec, &v.status.state, &v.status.last_error, &v.status.node));
                    (v.name.clone(), (key, stream_message(v)))
                })
                .collect()
        };
        let gone = |name: String| pb::Stream {
            name,
            deleted: true,
            ..Default::default()
        };
        Ok(Response::new(watch_items(
            self.service.watch(),
            request.into_inner().prefix,
            items,
            gone,
        )))
    }

    async fn put_push(&self, request: Request<pb::Push>) -> Result<Response<pb::Push>, Status> {
        let m = request.into_inner();
        let spec = parse_spec("push", &m.spec_json)?;
        let view = self.service.put_push(&m.name, spec)?;
        Ok(Response::new(push_message(&view)))
    }

    async fn get_push(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::Push>, Status> {
        let view = self.service.get_push(&request.into_inner().name)?;
        Ok(Response::new(push_message(&view)))
    }

    async fn list_pushes(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListPushesResponse>, Status> {
        let pushes = self.service.list_pushes().iter().map(push_message).collect();
        Ok(Response::new(pb::ListPushesResponse { pushes }))
    }

    async fn delete_push(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.service.delete_push(&request.into_inner().name)?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    type WatchPushesStream = ReceiverStream<Result<pb::Push, Status>>;

    async fn watch_pushes(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchPushesStream>, Status> {
        let service = self.service.clone();
        let items = move || {
            service
                .list_pushes()
                .iter()
                .map(|v| {
                    let states: BTreeMap<&str, _> =
                        v.streams.iter().map(|(s, st)| (s.as_str(), &st.state)).collect();
                    let key = json(&(&v.spec, &v.status.state, &v.status.last_error, states));
                    (v.name.clone(), (key, push_message(v)))
                })
                .collect()
        };
        let gone = |name: String| pb::Push {
            name,
            deleted: true,
            ..Default::default()
        };
        Ok(Response::new(watch_items(
            self.service.watch_pushes(),
            request.into_inner().prefix,
            items,
            gone,
        )))
    }

    async fn list_nodes(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        let nodes = self
            .service
            .list_nodes()
            .await?
            .into_iter()
            .map(|n| pb::Node {
                id: n.id,
                role: n.role,
                info_json: json(&n.info),
            })
            .collect();
        Ok(Response::new(pb::ListNodesResponse { nodes }))
    }

    async fn list_sessions(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let sessions = self
            .service
            .list_sessions()
            .into_iter()
            .map(|s| pb::Session {
                stream: s.stream,
                viewers: s.viewers,
                by_protocol: s.by_protocol.into_iter().collect(),
            })
            .collect();
        Ok(Response::new(pb::ListSessionsResponse { sessions }))
    }
}

/// A watch: every current item whose name starts with `prefix`, then each
/// one whose key changed, and a `gone` message for each that disappeared.
/// Looks again on every spec change and every [`WATCH_POLL`].
fn watch_items<S, M>(
    mut specs: watch::Receiver<S>,
    prefix: String,
    items: impl Fn() -> BTreeMap<String, (String, M)> + Send + 'static,
    gone: impl Fn(String) -> M + Send + 'static,
) -> ReceiverStream<Result<M, Status>>
where
    S: Send + Sync + 'static,
    M: Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        loop {
            specs.borrow_and_update();
            let mut now = items();
            now.retain(|name, _| name.starts_with(&prefix));
            let removed: Vec<String> = seen.keys().filter(|n| !now.contains_key(*n)).cloned().collect();
            for name in removed {
                seen.remove(&name);
                if tx.send(Ok(gone(name))).await.is_err() {
                    return;
                }
            }
            for (name, (key, message)) in now {
                if seen.get(&name) == Some(&key) {
                    continue;
                }
                seen.insert(name, key);
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                changed = specs.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(WATCH_POLL) => {}
                () = tx.closed() => return,
            }
        }
    });
    ReceiverStream::new(rx)
}
