#!/usr/bin/env bash
# CPU cost of ingest: a release `tributary standalone` receives a pre-encoded
# ~5 Mbps H.264+AAC stream (ffmpeg -c copy, so ffmpeg's own CPU is not
# counted) for SECONDS over RTMP, then SRT (shared port), then TS/UDP, while one viewer reads
# /NAME.ts. Prints the server's CPU time per second of stream and per Mbps.
#
#   bash bench/ingest_cpu.sh            # SECONDS=20 by default
set -euo pipefail
SECONDS_RUN=${SECONDS_RUN:-20}
cd "$(dirname "$0")/.."
cargo build --release -q -p tributary
BIN=target/release/tributary
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

ffmpeg -v error -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=sample_rate=48000 \
  -t $((SECONDS_RUN + 5)) -c:v libx264 -preset ultrafast -b:v 5M -maxrate 5M -bufsize 10M -g 50 \
  -c:a aac -b:a 128k -f mpegts "$work/src.ts"
bytes=$(stat -c %s "$work/src.ts")
mbps=$(echo "scale=2; $bytes * 8 / ($SECONDS_RUN + 5) / 1000000" | bc)

http=127.0.0.1:18080; rtmp=127.0.0.1:11935; srt=127.0.0.1:18889; udp=19000
cat > "$work/tributary.toml" <<TOML
[streams.rtmp]
source = "push://"
[streams.srt]
source = "push://"
[streams.udp]
source = "tsudp://127.0.0.1:$udp"
TOML
$BIN standalone --config "$work/tributary.toml" --http-listen $http --rtmp-listen $rtmp --srt-listen $srt 2>"$work/server.log" &
pid=$!
for _ in $(seq 50); do curl -sf "http://$http/healthz" >/dev/null && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

measure() { # name, ffmpeg output args...
  local name=$1; shift
  ffmpeg -v error -re -i "$work/src.ts" -t "$SECONDS_RUN" -c copy "$@" &
  local ff=$!
  sleep 2
  curl -s "http://$http/$name.ts" -o "$work/$name.out" --max-time $((SECONDS_RUN - 3)) &
  local before; before=$(cpu_ticks)
  sleep $((SECONDS_RUN - 4))
  local after; after=$(cpu_ticks)
  wait $ff || true
  local secs=$((SECONDS_RUN - 4))
  local cpu; cpu=$(echo "scale=4; ($after - $before) / $hz / $secs" | bc)
  local got; got=$(stat -c %s "$work/$name.out" 2>/dev/null || echo 0)
  echo "$name ingest at ~$mbps Mbps with 1 ts viewer (it received $((got / 1000)) kB): $(echo "scale=2; $cpu * 100" | bc)% of one core, $(echo "scale=3; $cpu * 100 / $mbps" | bc)% of a core per Mbps"
}

measure rtmp -f flv "rtmp://$rtmp/live/rtmp"
measure srt -f mpegts "srt://$srt?streamid=publish:srt&pkt_size=1316"
measure udp -f mpegts "udp://127.0.0.1:$udp?pkt_size=1316"
