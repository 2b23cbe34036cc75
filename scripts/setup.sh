#!/usr/bin/env bash
# Installs what building and testing rtmpws needs, when it is missing. Idempotent.
#   scripts/setup.sh build   toolchain for the gateway and the browser client
#   scripts/setup.sh test    the above, plus ffmpeg, rtmpdump, openssl, Chromium and nginx-rtmp,
#                            and FFmpeg 9 (Enhanced RTMP) under .cache/ffmpeg9
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-build}"
prometheus_client_version=0.26.0

say() { printf '== %s\n' "$*"; }

# The wasm-bindgen CLI must match the crate version pinned in Cargo.toml exactly.
wasm_bindgen_version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml)

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wasm_bindgen_version" ]; then
  say "installing wasm-bindgen-cli $wasm_bindgen_version (about 3 minutes)"
  # No --locked: its lockfile pins a crate version the registry does not serve.
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# Again whenever the lockfile changed since the last install (a pull that adds a package).
if [ -f package.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  say "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

if [ "$what" = test ]; then
  missing=()
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v rtmpdump >/dev/null || missing+=(rtmpdump)
  command -v openssl >/dev/null || missing+=(openssl)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(nginx libnginx-mod-rtmp)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      say "installing ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
      exit 1
    fi
  fi

  # Debian's ffmpeg (5.1) has no Enhanced RTMP; the enhanced tests use FFmpeg 9.0.2, a static
  # binary shipped in the PyPI package imageio-ffmpeg (tests find it via tests/src/lib.rs ffmpeg9()).
  ffmpeg9=.cache/ffmpeg9/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2
  if [ ! -x "$ffmpeg9" ]; then
    say "installing FFmpeg 9 (imageio-ffmpeg 0.8.1) into .cache/ffmpeg9"
    python3 -m pip install --quiet --disable-pip-version-check --target .cache/ffmpeg9 imageio-ffmpeg==0.8.1
    chmod +x "$ffmpeg9"
  fi

  # The metrics test checks /metrics with Prometheus's own Python parser.
  if [ ! -f .cache/python/prometheus_client/parser.py ]; then
    say "installing the Python package prometheus-client into .cache/python"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target .cache/python "prometheus-client==$prometheus_client_version"
  fi
fi
