#!/usr/bin/env bash
# Installs the real peers the tests run against, from Debian's packages, when
# they are missing. Needs root to install; otherwise it only reports.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# etcd-client's build imports protobuf's well-known types (a recommendation
# of protobuf-compiler, which --no-install-recommends leaves out)
[ -e /usr/include/google/protobuf/descriptor.proto ] || need+=(libprotobuf-dev)
command -v srt-live-transmit >/dev/null || need+=(srt-tools)
command -v etcd >/dev/null || need+=(etcd-server)
# RIST: librist to build the default `rist` feature, rist-tools for the interop tests
[ -e /usr/include/librist/librist.h ] || need+=(librist-dev)
command -v ristsender >/dev/null || need+=(rist-tools)
# the browser end-to-end tests (tests/e2e/browser) drive Debian's Chromium
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  echo "test tools: all present"
else
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "test tools: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test tools: missing ${need[*]} (run as root to install them); tests that need them are skipped"
  fi
fi

# playwright-core and hls.js for the browser tests, at the versions the lock pins
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/browser"
if [ -d "$browser_dir/node_modules/playwright-core" ] && [ -d "$browser_dir/node_modules/hls.js" ]; then
  :
elif ! command -v npm >/dev/null; then
  echo "test tools: npm missing; browser tests are skipped"
elif (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
  echo "test tools: installed tests/e2e/browser/node_modules (npm ci)"
else
  echo "test tools: npm ci in tests/e2e/browser failed; browser tests are skipped"
fi

if ! command -v cargo-nextest >/dev/null; then
  echo "test tools: cargo-nextest missing; make test falls back to cargo test"
fi
