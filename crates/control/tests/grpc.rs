//! The gRPC API against a real server on loopback: streams and pushes, error
//! codes, the token, reflection.

use std::sync::Arc;
use std::time::Duration;

use control::{ApiToken, Service};
use proto::control as pb;
use proto::control::control_client::ControlClient;
use tonic::Code;
use tonic::transport::Channel;

struct Server {
    addr: std::net::SocketAddr,
    hub: Arc<hub::Hub>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(token: Option<&str>) -> Server {
    let hub = Arc::new(hub::Hub::default());
    let service = Arc::new(Service::new(hub.clone(), Default::default(), None, "node-1"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let token = token.and_then(ApiToken::new);
    tokio::spawn(control::grpc::serve(listener, service, token, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        hub,
        _stop: stop,
    }
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn stream(name: &str, spec: &str) -> pb::Stream {
    pb::Stream {
        name: name.into(),
        spec_json: spec.into(),
        ..Default::default()
    }
}

fn get(name: &str) -> pb::GetRequest {
    pb::GetRequest { name: name.into() }
}

async fn next<T>(s: &mut tonic::Streaming<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), s.message())
        .await
        .expect("a watch event within 5 s")
        .unwrap()
        .expect("the watch goes on")
}

#[tokio::test]
async fn streams_put_get_list_watch_delete() {
    let server = start(None).await;
    let mut c = ControlClient::new(channel(server.addr).await);
    let mut watch = c
        .watch_streams(pb::WatchRequest { prefix: "cam".into() })
        .await
        .unwrap()
        .into_inner();

    let put = c
        .put_stream(stream("cam1", r#"{"source":"push://"}"#))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.name, "cam1");
    let spec: serde_json::Value = serde_json::from_str(&put.spec_json).unwrap();
    assert_eq!(spec["source"], "push://");
    assert_eq!(spec["dvrWindowSeconds"], 30);
    let status: serde_json::Value = serde_json::from_str(&put.status_json).unwrap();
    assert_eq!(status["state"], "waiting");
    c.put_stream(stream("other", r#"{"source":"push://"}"#))
        .await
        .unwrap();

    let got = c.get_stream(get("cam1")).await.unwrap().into_inner();
    assert_eq!(got.spec_json, put.spec_json);
    let list = c.list_streams(pb::ListRequest {}).await.unwrap().into_inner();
    let names: Vec<_> = list.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cam1", "other"]);

    // the watch sees cam1 (not "other": prefix), then its state change, then its deletion
    let event = next(&mut watch).await;
    assert_eq!((event.name.as_str(), event.deleted), ("cam1", false));
    let publisher = server.hub.stream("cam1").publish().unwrap();
    publisher.push(media::Frame::new(
        1,
        media::Timestamp::new(0, 90_000),
        media::Timestamp::new(0, 90_000),
        true,
        vec![0u8; 10],
    ));
    let event = next(&mut watch).await;
    let status: serde_json::Value = serde_json::from_str(&event.status_json).unwrap();
    assert_eq!(status["state"], "live", "{event:?}");
    drop(publisher);

    c.delete_stream(pb::DeleteRequest { name: "cam1".into() })
        .await
        .unwrap();
    loop {
        let event = next(&mut watch).await;
        if event.deleted {
            assert_eq!(event.name, "cam1");
            assert!(event.spec_json.is_empty());
            break;
        }
    }
    let e = c.get_stream(get("cam1")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("cam1"));
}

#[tokio::test]
async fn errors_map_to_grpc_codes() {
    let server = start(None).await;
    let mut c = ControlClient::new(channel(server.addr).await);
    for (name, spec, code) in [
        ("bad name", r#"{"source":"push://"}"#, Code::InvalidArgument),
        ("ok", r#"{"source":"gopher://x"}"#, Code::InvalidArgument),
        ("ok", "not json", Code::InvalidArgument),
        ("ok", r#"{"source":"push://","bogus":1}"#, Code::InvalidArgument),
        ("cam+1", r#"{"source":"push://"}"#, Code::InvalidArgument),
    ] {
        let e = c.put_stream(stream(name, spec)).await.unwrap_err();
        assert_eq!(e.code(), code, "{name} {spec}: {e:?}");
    }
    let e = c
        .delete_stream(pb::DeleteRequest { name: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c.get_push(get("nope")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "no push named \"nope\"");
}

#[tokio::test]
async fn pushes_put_get_list_watch_delete() {
    let server = start(None).await;
    let mut c = ControlClient::new(channel(server.addr).await);
    let mut watch = c
        .watch_pushes(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let put = c
        .put_push(pb::Push {
            name: "rec".into(),
            spec_json: r#"{"stream":"cam","target":"/rec/$stream.ts"}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let spec: serde_json::Value = serde_json::from_str(&put.spec_json).unwrap();
    assert_eq!(spec["target"], "/rec/$stream.ts");
    assert_eq!(spec["autoStart"], false);
    let status: serde_json::Value = serde_json::from_str(&put.status_json).unwrap();
    assert_eq!(status["status"]["state"], "stopped", "{status}");

    let got = c.get_push(get("rec")).await.unwrap().into_inner();
    assert_eq!(got.spec_json, put.spec_json);
    let list = c.list_pushes(pb::ListRequest {}).await.unwrap().into_inner();
    assert_eq!(list.pushes.len(), 1);
    let event = next(&mut watch).await;
    assert_eq!((event.name.as_str(), event.deleted), ("rec", false));

    let e = c
        .put_push(pb::Push {
            name: "bad".into(),
            spec_json: r#"{"stream":"cam","target":"ftp://x"}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    c.delete_push(pb::DeleteRequest { name: "rec".into() })
        .await
        .unwrap();
    let event = next(&mut watch).await;
    assert_eq!((event.name.as_str(), event.deleted), ("rec", true));
    assert_eq!(c.get_push(get("rec")).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn nodes_and_sessions() {
    let server = start(None).await;
    let mut c = ControlClient::new(channel(server.addr).await);
    let stream = server.hub.stream("cam");
    let _a = stream.subscribe_as(hub::Protocol::Ts);
    let _b = stream.subscribe_as(hub::Protocol::Hls);
    let _c = stream.subscribe_as(hub::Protocol::Ts);
    let nodes = c.list_nodes(pb::ListRequest {}).await.unwrap().into_inner().nodes;
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0].id.as_str(), nodes[0].role.as_str()),
        ("node-1", "standalone")
    );
    let info: serde_json::Value = serde_json::from_str(&nodes[0].info_json).unwrap();
    assert!(
        info["cpuSeconds"].is_number() && info["load"].is_number(),
        "{info}"
    );
    assert_eq!(info["viewers"], 3);
    let sessions = c
        .list_sessions(pb::ListRequest {})
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].stream, "cam");
    assert_eq!(sessions[0].viewers, 3);
    assert_eq!(sessions[0].by_protocol.get("ts"), Some(&2));
    assert_eq!(sessions[0].by_protocol.get("hls"), Some(&1));
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let server = start(Some("s3cret")).await;
    let ch = channel(server.addr).await;
    let mut open = ControlClient::new(ch.clone());
    let e = open.list_streams(pb::ListRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("token"));

    let mut wrong = ControlClient::with_interceptor(ch.clone(), bearer("guess"));
    let e = wrong.list_streams(pb::ListRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("wrong"));
    let e = wrong
        .watch_streams(pb::WatchRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    let mut right = ControlClient::with_interceptor(ch, bearer("s3cret"));
    right
        .put_stream(stream("cam", r#"{"source":"push://"}"#))
        .await
        .unwrap();
    let list = right.list_streams(pb::ListRequest {}).await.unwrap().into_inner();
    assert_eq!(list.streams.len(), 1);
}

fn bearer(token: &str) -> impl tonic::service::Interceptor + Clone {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", value.clone());
        Ok(r)
    }
}

#[tokio::test]
async fn reflection_lists_the_control_service_even_with_a_token() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = start(Some("s3cret")).await;
    let mut c = ServerReflectionClient::new(channel(server.addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = c
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("an answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"tributary.control.v1.Control"), "{names:?}");

    // the service's file is there too
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "tributary.control.v1.Control".into(),
        )),
    };
    let mut answers = c
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("an answer");
    assert!(
        matches!(answer.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{answer:?}"
    );
}
