#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, the protocol crate on wasm32,
# Rust unit and end-to-end tests (real gateway, ffmpeg, rtmpdump, nginx-rtmp), and the
# headless-browser tests (Chromium via playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
# The protocol crate as the browser client builds it: without its server side.
cargo clippy -p rtmpws-protocol --no-default-features --all-targets -- -D warnings
step "sans-IO crates build for wasm32"
cargo build -p rtmpws-protocol -p rtmpws-media --target wasm32-unknown-unknown
step "build the gateway"
cargo build -p rtmpws-gateway
step "Rust tests"
cargo test --workspace
step "benchmark smoke"
cargo run -q -p rtmpws-bench --bin rtmpws-loadgen -- --smoke --gateway target/debug/rtmpws-gateway
cargo run -q -p rtmpws-bench --bin rtmpws-flood -- --smoke --gateway target/debug/rtmpws-gateway
if [ -f package.json ]; then
  step "browser client"
  npm run --silent build
  step "browser tests"
  node --test tests/browser/
fi
step "browser client benchmarks (smoke)"
node bench/browser/remux.mjs --smoke
node bench/browser/size.mjs --smoke
node bench/browser/latency.mjs --smoke
