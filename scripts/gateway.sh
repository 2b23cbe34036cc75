#!/usr/bin/env bash
# Builds everything and starts the gateway with its demo page. Extra arguments go to the
# gateway (see `rtmpws-gateway --help`), e.g. --rtmp-addr 127.0.0.1:11935.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
if [ -f package.json ]; then npm run --silent build; fi
cargo build --release -p rtmpws-gateway
exec target/release/rtmpws-gateway "$@"
