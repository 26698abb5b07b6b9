# Tributary: one image for every role (`tributary standalone|ingest|edge|operator|ctl`).

FROM rust:bookworm AS build
# librist-dev: RIST inputs and pushes (the default `rist` feature);
# protobuf-compiler is not needed (the build uses protox)
RUN apt-get update \
    && apt-get install -y --no-install-recommends librist-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tributary \
    && cp target/release/tributary /usr/local/bin/tributary

FROM debian:bookworm-slim
# ffmpeg: live processes (transcodes); librist4: the runtime of librist-dev
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates ffmpeg librist4 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tributary \
    && useradd --system --uid 10001 --gid tributary --home-dir /var/lib/tributary --create-home tributary
COPY --from=build /usr/local/bin/tributary /usr/local/bin/tributary
USER 10001:10001
WORKDIR /var/lib/tributary
# HTTP (outputs, API, metrics, health), RTMP, gRPC control API
EXPOSE 8080/tcp 1935/tcp 4242/tcp
# SRT (publish and play), QUIC relay (ingest nodes), WebRTC (all sessions)
EXPOSE 8889/udp 4433/udp 8189/udp
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["standalone"]
