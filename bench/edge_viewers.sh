#!/usr/bin/env bash
# How edge CPU grows with viewers of one stream over /NAME.ts: a real etcd,
# one release `tributary ingest` and one `tributary edge` on loopback; a
# pre-encoded ~1 Mbps H.264+AAC stream pushed over SRT (ffmpeg -c copy);
# then 1, 10, 100 and 1,000 concurrent HTTP readers of /NAME.ts on the edge
# (one Python asyncio process that only counts bytes). Prints, per step, the
# edge's and the ingest's CPU (share of one core) and the bytes delivered.
#
#   bash bench/edge_viewers.sh            # STEP_SECONDS=10 by default
set -euo pipefail
STEP=${STEP_SECONDS:-10}
COUNTS=${COUNTS:-"1 10 100 1000"}
cd "$(dirname "$0")/.."
cargo build --release -q -p tributary
BIN=$PWD/target/release/tributary
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 8192 || true

total=$(( STEP * 5 + 40 ))
ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=sample_rate=48000 \
  -t 30 -c:v libx264 -preset ultrafast -b:v 900k -maxrate 900k -bufsize 1800k -g 50 \
  -c:a aac -b:a 96k -f mpegts "$work/src.ts"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
uport() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ec=$(port); ep=$(port)
etcd --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:$ec --advertise-client-urls http://127.0.0.1:$ec \
  --listen-peer-urls http://127.0.0.1:$ep --initial-advertise-peer-urls http://127.0.0.1:$ep \
  --initial-cluster default=http://127.0.0.1:$ep >/dev/null 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ec/health" >/dev/null && break; sleep 0.1; done

ih=$(port); is=$(uport); ir=$(uport); eh=$(port); es=$(uport)
$BIN ingest --etcd http://127.0.0.1:$ec --node-id ingest-0 --http-listen 127.0.0.1:$ih \
  --srt-listen 127.0.0.1:$is --rtmp-listen 127.0.0.1:$(port) --relay-listen 127.0.0.1:$ir \
  --grpc-listen 127.0.0.1:$(port) --webrtc-listen 127.0.0.1:$(uport) 2>"$work/ingest.log" &
ipid=$!
$BIN edge --etcd http://127.0.0.1:$ec --node-id edge-0 --http-listen 127.0.0.1:$eh \
  --srt-listen 127.0.0.1:$es --grpc-listen 127.0.0.1:$(port) --webrtc-listen 127.0.0.1:$(uport) 2>"$work/edge.log" &
epid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ih/readyz" >/dev/null && curl -sf "http://127.0.0.1:$eh/readyz" >/dev/null && break; sleep 0.1; done
curl -sf -X PUT -H 'content-type: application/json' -d '{"source":"push://"}' "http://127.0.0.1:$eh/api/v1/streams/cam" >/dev/null
sleep 1
ffmpeg -v error -re -stream_loop -1 -i "$work/src.ts" -t $total -c copy -f mpegts \
  "srt://127.0.0.1:$is?streamid=publish:cam&pkt_size=1316" &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ih/api/v1/streams/cam" | grep -q '"live"' && break; sleep 0.1; done
sleep 2

cat > "$work/viewers.py" <<'PY'
import asyncio, sys
host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
total = 0
async def viewer():
    global total
    r, w = await asyncio.open_connection(host, port)
    w.write(f"GET /cam.ts HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await w.drain()
    try:
        while True:
            b = await r.read(65536)
            if not b:
                break
            total += len(b)
    finally:
        w.close()
async def main():
    tasks = [asyncio.create_task(viewer()) for _ in range(n)]
    await asyncio.sleep(secs)
    for t in tasks:
        t.cancel()
    print(total)
asyncio.run(main())
PY

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf "%8s %12s %12s %14s %10s\n" viewers edge_cpu% ingest_cpu% delivered_Mbps per_viewer
for n in $COUNTS; do
  python3 "$work/viewers.py" 127.0.0.1 $eh $n $((STEP + 3)) >"$work/bytes" &
  vp=$!
  sleep 3
  e0=$(ticks $epid); i0=$(ticks $ipid)
  sleep $STEP
  e1=$(ticks $epid); i1=$(ticks $ipid)
  wait $vp
  bytes=$(cat "$work/bytes")
  ecpu=$(echo "scale=1; ($e1 - $e0) * 100 / $hz / $STEP" | bc)
  icpu=$(echo "scale=1; ($i1 - $i0) * 100 / $hz / $STEP" | bc)
  mbps=$(echo "scale=1; $bytes * 8 / ($STEP + 3) / 1000000" | bc)
  per=$(echo "scale=3; $bytes * 8 / ($STEP + 3) / 1000000 / $n" | bc)
  printf "%8s %12s %12s %14s %10s\n" $n $ecpu $icpu $mbps $per
  sleep 2
done
subs=$(curl -s "http://127.0.0.1:$eh/metrics" | grep -E '^tributary_relay_upstream_subscriptions' || true)
echo "edge upstream subscriptions after the run: ${subs:-?}"
