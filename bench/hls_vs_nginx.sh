#!/usr/bin/env bash
# HLS segment serving against nginx, and the memory cost of blocked LL-HLS
# playlist requests. Prints figures only; nothing passes or fails.
#
# Method:
#  1. A release `tributary standalone` gets an RTMP push from ffmpeg
#     (testsrc2 720p25 + sine, x264 4 Mbps, GOP 50) into a `push://` stream.
#  2. Once /cmaf/NAME/index.m3u8 and /hls/NAME/index.m3u8 list a complete
#     segment (a URI line ending in .m4s / .ts), the newest one of each is
#     downloaded to a temporary web root.
#  3. nginx (installed from Debian when missing, with wrk) serves that web
#     root on a free loopback port: daemon off, worker_processes auto,
#     sendfile, keepalive, no access log.
#  4. wrk -t2 -c100 -d10s --latency fetches the same segment from nginx's
#     copy and from the server's URL, for the fMP4 and the TS segment.
#  5. Requests/s, MB/s (wrk's transfer rate, in 10^6 bytes), latency p50/p99
#     and the ratio ours/nginx are printed. wrk, nginx and the server share
#     this machine's cores, so the figures compare, they do not measure
#     capacity.
#  6. Memory per 1,000 idle blocked requests: VmRSS of the server is read,
#     a python3 asyncio client opens 1,000 connections each sending
#     GET /cmaf/NAME/index.m3u8?_HLS_msn=<last MSN + 2>&_HLS_part=0 (which the
#     server holds for up to a few target durations), VmRSS is read again
#     while they are held, and the difference is scaled to 1,000 requests.
#  7. Everything started here is stopped on exit.
#
#   bash bench/hls_vs_nginx.sh        # WRK_SECONDS=10 WRK_CONNECTIONS=100 IDLE_REQUESTS=1000 WAIT=40
set -euo pipefail
WRK_SECONDS=${WRK_SECONDS:-10}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-100}
IDLE_REQUESTS=${IDLE_REQUESTS:-1000}
WAIT=${WAIT:-40}
NAME=bench
cd "$(dirname "$0")/.."

die() { echo "hls_vs_nginx: $*" >&2; exit 1; }

cargo build --release -q -p tributary
BIN=${CARGO_TARGET_DIR:-target}/release/tributary
[ -x "$BIN" ] || die "$BIN was not built"

# nginx and wrk from Debian when missing.
PATH=$PATH:/usr/sbin:/sbin
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q nginx-light wrk >/dev/null ||
    $sudo apt-get install -y -q nginx wrk >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q nginx wrk >/dev/null; } ||
    die "could not install nginx and wrk"
fi
command -v python3 >/dev/null || die "python3 is needed for the idle-request client"
command -v ffmpeg >/dev/null || die "ffmpeg is needed to push the test stream"

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The server may hold thousands of connections.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 8192 2>/dev/null || true

http=127.0.0.1:$(free_port)
rtmp=127.0.0.1:$(free_port)
srt=127.0.0.1:$(free_port)
cat >"$work/tributary.toml" <<TOML
[streams.$NAME]
source = "push://"
TOML
RUST_LOG=${RUST_LOG:-warn} "$BIN" standalone --config "$work/tributary.toml" \
  --http-listen "$http" --rtmp-listen "$rtmp" --srt-listen "$srt" 2>"$work/server.log" &
server=$!
pids+=("$server")
for _ in $(seq 100); do curl -sf "http://$http/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$http/healthz" >/dev/null || die "the server did not answer /healthz; its log: $(tail -5 "$work/server.log")"

ffmpeg -v error -nostdin -re -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=sample_rate=48000 \
  -c:v libx264 -preset veryfast -tune zerolatency -g 50 -keyint_min 50 -b:v 4M -maxrate 4M -bufsize 8M \
  -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "rtmp://$rtmp/live/$NAME" 2>"$work/ffmpeg.log" &
pids+=("$!")

# wait_segment PREFIX EXT: the URL of the newest complete segment listed by
# /PREFIX/NAME/index.m3u8; exits with a message when none appears in WAIT s.
wait_segment() {
  local prefix=$1 ext=$2 url="http://$http/$1/$NAME/index.m3u8" code=000 uri=""
  local deadline=$((SECONDS + WAIT))
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s -o "$work/playlist.m3u8" -w '%{http_code}' --max-time 5 "$url" || true)
    if [ "$code" = 200 ]; then
      uri=$(grep -v '^#' "$work/playlist.m3u8" | tr -d '\r' | grep -E "\.$ext(\?.*)?$" | tail -n 1 || true)
      [ -n "$uri" ] && break
    fi
    sleep 0.5
  done
  if [ -z "$uri" ]; then
    echo "hls_vs_nginx: $url never listed a complete .$ext segment within ${WAIT}s (last HTTP status $code)" >&2
    echo "  server log: $(tail -3 "$work/server.log" | tr '\n' ' ')" >&2
    echo "  ffmpeg log: $(tail -3 "$work/ffmpeg.log" | tr '\n' ' ')" >&2
    exit 1
  fi
  case $uri in
    http://* | https://*) echo "$uri" ;;
    /*) echo "http://$http$uri" ;;
    *) echo "http://$http/$prefix/$NAME/$uri" ;;
  esac
}

cmaf_url=$(wait_segment cmaf m4s)
ts_url=$(wait_segment hls ts)
mkdir -p "$work/www"
curl -sf -o "$work/www/segment.m4s" "$cmaf_url" || die "could not download $cmaf_url"
curl -sf -o "$work/www/segment.ts" "$ts_url" || die "could not download $ts_url"
chmod -R a+rX "$work/www"

# nginx, serving the copies.
nport=$(free_port)
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types { video/iso.segment m4s; video/mp2t ts; }
    default_type application/octet-stream;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$nport;
        root $work/www;
    }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=("$!")
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$nport/segment.ts" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$nport/segment.ts" || die "nginx did not serve the copy: $(tail -3 "$work/nginx/error.log")"

# run_wrk LABEL URL: prints one line and sets RPS.
run_wrk() {
  local label=$1 url=$2 out
  out=$(wrk -t2 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency "$url")
  RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  local mbs p50 p99 bad
  mbs=$(awk '/^Transfer\/sec:/ {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v);
      m = (u == "GB") ? 1073741824 : (u == "MB") ? 1048576 : (u == "KB") ? 1024 : 1;
      printf "%.1f", v * m / 1e6 }' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  printf '  %-8s %10s req/s %9s MB/s  p50 %-9s p99 %-9s%s\n' "$label" "$RPS" "$mbs" "$p50" "$p99" \
    "${bad:+  ($bad non-2xx responses: the segment left the window?)}"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "machine: $(nproc) cores; wrk -t2 -c$WRK_CONNECTIONS -d${WRK_SECONDS}s; server, nginx and wrk on the same cores"
for kind in m4s ts; do
  # the newest segment now, so it stays in the window (30 s) through both runs
  if [ $kind = m4s ]; then url=$(wait_segment cmaf m4s); else url=$(wait_segment hls ts); fi
  curl -sf -o "$work/www/segment.$kind" "$url" || die "could not download $url"
  size=$(stat -c %s "$work/www/segment.$kind")
  echo "segment .$kind ($size bytes): $url"
  # ours first: a packager nobody asks for stops after 30 s idle, and its
  # segments with it
  run_wrk ours "$url"
  ours_rps=$RPS
  run_wrk nginx "http://127.0.0.1:$nport/segment.$kind"
  echo "  ours/nginx requests/s: $(ratio "$ours_rps" "$RPS")"
done

# Memory per idle blocked playlist request.
cat >"$work/idle.py" <<'PY'
import asyncio, collections, resource, sys, time

host, port, path, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 64, hard), hard))


def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


async def one(sent, answers, writers):
    try:
        r, w = await asyncio.open_connection(host, port)
    except OSError as e:
        answers.append(f"connect failed: {e.strerror}")
        return
    writers.append(w)
    w.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    await w.drain()
    sent.append(1)
    try:
        status = await r.readline()
        answers.append(status.decode(errors="replace").strip() or "closed")
    except OSError:
        answers.append("reset")


async def main():
    before = rss_kb()
    sent, answers, writers = [], [], []
    tasks = [asyncio.create_task(one(sent, answers, writers)) for _ in range(n)]
    deadline = time.monotonic() + 10
    while len(sent) + len(answers) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # the server reads and parks the requests
    during = rss_kb()
    held = n - len(answers)
    early = collections.Counter(answers)
    for t in tasks:
        t.cancel()
    for w in writers:
        w.close()
    await asyncio.sleep(1)
    after = rss_kb()
    print(f"  {n} requests sent, {held} held by the server when measured"
          + (f" (answered early: {dict(early)})" if early else ""))
    print(f"  VmRSS before {before} kB, while held {during} kB, after closing {after} kB")
    if held > 0:
        print(f"  => {(during - before) * 1000 / held:.0f} kB per 1,000 blocked requests "
              f"({(during - before) * 1024 / held:.0f} bytes each)")
    else:
        print("  => no request was held: no figure (is blocking reload served at this path?)")


asyncio.run(main())
PY

playlist=$(curl -sf "http://$http/cmaf/$NAME/index.m3u8") || die "the /cmaf playlist went away"
last_msn=$(python3 -c '
import sys
text = sys.stdin.read().splitlines()
seq = skipped = count = 0
open_parts = False
for l in text:
    if l.startswith("#EXT-X-MEDIA-SEQUENCE:"): seq = int(l.split(":")[1])
    elif l.startswith("#EXT-X-SKIP:"):
        skipped = int([a.split("=")[1] for a in l[12:].split(",") if a.startswith("SKIPPED-SEGMENTS=")][0])
    elif l.startswith("#EXT-X-PART:"): open_parts = True
    elif l and not l.startswith("#"): count += 1; open_parts = False
print(seq + skipped + count + (1 if open_parts else 0) - 1)
' <<<"$playlist")
idle_path="/cmaf/$NAME/index.m3u8?_HLS_msn=$((last_msn + 2))&_HLS_part=0"
echo "idle blocked playlist requests: GET $idle_path (last MSN listed $last_msn)"
python3 "$work/idle.py" "${http%:*}" "${http##*:}" "$idle_path" "$IDLE_REQUESTS" "$server"
