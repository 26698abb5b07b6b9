#!/usr/bin/env bash
# WebRTC fan-out figures on loopback (release build), server and viewers in
# one process: added latency per viewer and frame (frame off the hub ->
# the viewer's first RTP packet of it at the socket) and per frame (until
# every viewer's packets are out), and the server's CPU per viewer.
# WEBRTC_BENCH_VIEWERS (default 100), WEBRTC_BENCH_SECONDS (default 10),
# WEBRTC_BENCH_LOOPS (the server's run loops; default 0: four per core).
# The viewers run on one thread of the same machine: on a 2-core machine
# they take CPU from the server; read the figures with that in mind, and
# check `uptime` first (compiles running alongside show in the tails).
# bench/webrtc.sh measures the same server with Chromium as the viewers.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p webrtc --bench fanout "$@"
