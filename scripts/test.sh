#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run): installs SIPp when missing, then checks formatting,
# lints, and runs every test, wire tests against the real daemon included.
#   scripts/test.sh            everything
#   scripts/test.sh sipp       only tests whose name contains "sipp" (arguments go to `cargo test`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
section() { printf '\n==== %s ====\n' "$*"; }
fail() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fail "need root (or sudo) to run: $*"
  fi
}

section "Toolchain"
command -v cargo >/dev/null 2>&1 || fail "cargo is not on PATH; install Rust with rustup (https://rustup.rs)"
cargo --version
rustc --version
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "cargo fmt missing: rustup component add rustfmt"
  rustup component add rustfmt
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  echo "cargo clippy missing: rustup component add clippy"
  rustup component add clippy
fi
cargo fmt --version
cargo clippy --version

section "SIPp (Debian package sip-tester)"
if ! command -v sipp >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "sipp is missing and there is no apt-get; install SIPp 3.6 yourself"
  echo "sipp missing: apt-get install -y sip-tester"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y sip-tester
fi
# `sipp -v` exits 99 by design; show the version line only.
(sipp -v 2>&1 || true) | grep -m1 -i 'SIPp v' || fail "sipp is installed but does not run"

section "Kamailio with its TLS module (Debian kamailio, kamailio-tls-modules): the TLS trunk of tests/it/tls_kamailio.rs"
if ! { command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ]; } \
   || ! ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "kamailio is missing and there is no apt-get; install Kamailio 5.6 with its tls module"
  echo "kamailio missing: apt-get install -y kamailio kamailio-tls-modules"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio kamailio-tls-modules
  # The package may start a system Kamailio on 5060; the tests start their own.
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now kamailio >/dev/null 2>&1 || true; fi
fi
/usr/sbin/kamailio -v | head -1

section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

section "cargo test --all-targets $*"
# The wire tests mostly wait on SIPp timers and the daemon's 32 s transaction lingering: run many at once.
cargo test --all-targets "$@" -- --test-threads=16

section "cargo test --doc $*"
cargo test --doc "$@"

section "All checks passed in $((SECONDS - started)) s"
