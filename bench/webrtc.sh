#!/usr/bin/env bash
# WebRTC figures: a release `tributary standalone` gets a 2 Mbit/s H.264
# stream from ffmpeg over RTMP; headless Chromium opens VIEWERS WHEP viewers
# (receive only, no decoding: the browser is the load generator, the server
# is measured). Prints the server's CPU and memory with no viewer and with
# VIEWERS viewers, per viewer, and the send latency (a viewer's feed reading
# a frame from the hub -> its RTP packets handed to the socket) from
# /metrics, as histogram bounds.
#   VIEWERS=100 SECONDS=20 bash bench/webrtc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWERS=${VIEWERS:-100}
SECONDS_RUN=${SECONDS:-20}
cargo build -q --release -p tributary
BIN=$PWD/target/release/tributary
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
uport() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
printf '[streams.cam]\nsource = "push://"\n' > "$work/t.toml"
http=$(port); rtmp=$(port)
$BIN standalone --config "$work/t.toml" --http-listen 127.0.0.1:$http --rtmp-listen 127.0.0.1:$rtmp \
  --srt-listen 127.0.0.1:$(uport) --grpc-listen 127.0.0.1:$(port) --webrtc-listen 127.0.0.1:$(uport) \
  2>"$work/server.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
ffmpeg -v error -nostdin -re -f lavfi -i testsrc2=size=1280x720:rate=25 -t $((SECONDS_RUN * 3 + 60)) \
  -c:v libx264 -preset veryfast -tune zerolatency -b:v 2M -maxrate 2M -bufsize 1M -g 50 -an \
  -f flv "rtmp://127.0.0.1:$rtmp/live/cam" &
sleep 4

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
measure() { # seconds -> "cpu-fraction rss-kib"
  local a b
  a=$(cpu); sleep "$1"; b=$(cpu)
  echo "$(echo "($b - $a) / $hz / $1" | bc -l) $(rss)"
}
read -r idle_cpu idle_rss < <(measure 8)
curl -s "http://127.0.0.1:$http/metrics" > "$work/before.txt"
node tests/e2e/browser/webrtc.mjs --mode whep --origin "http://127.0.0.1:$http" --stream cam \
  --seconds "$SECONDS_RUN" --viewers "$VIEWERS" --no-render > "$work/viewers.json" 2>"$work/node.log" &
node=$!
sleep $((VIEWERS / 10 + 6))
read -r busy_cpu busy_rss < <(measure $((SECONDS_RUN / 2)))
sessions=$(curl -s "http://127.0.0.1:$http/metrics" | awk '/^tributary_webrtc_sessions / {print $2}')
curl -s "http://127.0.0.1:$http/metrics" > "$work/after.txt"
wait $node || true
connected=$(python3 -c "import json; v=json.load(open('$work/viewers.json'))['viewers']; print(sum(1 for x in v if x.get('state')=='connected'))" 2>/dev/null || echo "?")

echo "viewers: $VIEWERS requested, sessions during the run: $sessions, connected at the end: $connected"
printf 'server CPU: %.3f cores idle (stream only), %.3f cores with viewers -> %.2f %% of a core per viewer\n' \
  "$idle_cpu" "$busy_cpu" "$(echo "($busy_cpu - $idle_cpu) * 100 / $VIEWERS" | bc -l)"
printf 'server RSS: %d KiB idle, %d KiB with viewers -> %.1f KiB per viewer\n' \
  "$idle_rss" "$busy_rss" "$(echo "($busy_rss - $idle_rss) / $VIEWERS" | bc -l)"
python3 - "$work/before.txt" "$work/after.txt" <<'PY'
import sys
def buckets(path):
    out = {}
    for line in open(path):
        if line.startswith('tributary_webrtc_send_latency_seconds_bucket'):
            le = line.split('le="')[1].split('"')[0]
            out[le] = float(line.rsplit(' ', 1)[1])
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
keys = sorted(b, key=lambda k: float('inf') if k == '+Inf' else float(k))
diff = [(k, b[k] - a.get(k, 0)) for k in keys]
total = diff[-1][1]
if total == 0:
    print('send latency: no frames sent'); sys.exit()
def quantile(q):
    for k, n in diff:
        if n >= q * total:
            return k
print(f"send latency over {int(total)} frame writes: p50 <= {quantile(0.5)} s, p90 <= {quantile(0.9)} s, p99 <= {quantile(0.99)} s")
PY
