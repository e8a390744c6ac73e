#!/usr/bin/env bash
# Profiles of the daemon under a SIPp call load (loopback, bounded, every process stopped by PID):
#
#   bench/profile.sh callgrind [BIN]   user-space instructions over 1,500 calls at 30 calls/s (no
#                                      retransmissions: valgrind is slow) → callgrind_annotate summary
#   bench/profile.sh strace [BIN]      syscalls per call over 3,000 calls at 300 calls/s (strace -c)
#   bench/profile.sh perf [BIN]        where the CPU goes, kernel included: perf record -g over 20,000 calls
#                                      at 2,000 calls/s (the rate of the CPU-second figure) → perf report
#   bench/profile.sh massif [BIN]      heap of 2,000 held calls, snapshot after the setup transactions ended;
#                                      BIN must be built with the system allocator:
#                                      cargo build --release --no-default-features
#                                      (THRESHOLD=0.1 keeps allocation sites down to 0.1 % of the heap)
#
# BIN defaults to target/release/sst-b2bua. Output goes to bench/out/profile-<tool>/. Nothing here runs in the
# test command. Counts and rates can be changed with CALLS=… RATE=….
set -euo pipefail
tool=${1:?usage: bench/profile.sh callgrind|strace|perf|massif [BIN]}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${2:-$root/target/release/sst-b2bua}
out=$root/bench/out/profile-$tool
rm -rf "$out" && mkdir -p "$out"
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
uas=$(port); daemon=$(port); uac=$(port)
cat > "$out/daemon.yaml" <<YAML
listen:
  - { transport: udp, address: 127.0.0.1:$daemon }
session_timer: { enabled: true, default_expires: 1800, min_se: 90, prefer_refresher: uac }
routes:
  - { name: bench, from: { source: 127.0.0.0/8 }, to: "sip:127.0.0.1:$uas" }
limits: { stats_interval: 0, max_calls: 200000 }
YAML
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
sipp -nostdin -i 127.0.0.1 -t u1 -buff_size 4194304 -sf "$root/bench/uas.xml" -p "$uas" > "$out/uas.out" 2>&1 &
pids+=($!)
caller() { # calls rate hold_ms
  timeout 600 sipp -nostdin -i 127.0.0.1 -t u1 -buff_size 4194304 -sf "$root/bench/uac.xml" "127.0.0.1:$daemon" \
    -p "$uac" -r "$2" -m "$1" -d "$3" -l 5000 -timeout 300s -timeout_error -trace_stat -stf "$out/uac.csv" \
    > "$out/uac.out" 2>&1 || echo "caller SIPp exited $?"
}
case $tool in
  callgrind)
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "$bin" --config "$out/daemon.yaml" \
      > "$out/daemon.log" 2>&1 &
    d=$!; pids+=("$d"); sleep 4
    caller "${CALLS:-1500}" "${RATE:-30}" 100
    kill -TERM "$d"; wait "$d" || true
    callgrind_annotate "$out/callgrind.out" | head -40
    ;;
  strace)
    RUST_LOG=warn "$bin" --config "$out/daemon.yaml" > "$out/daemon.log" 2>&1 &
    d=$!; pids+=("$d"); sleep 1
    strace -f -c -p "$d" -o "$out/strace.txt" 2>/dev/null &
    s=$!; sleep 1
    caller "${CALLS:-3000}" "${RATE:-300}" 1000
    kill -INT "$s"; wait "$s" || true
    kill -TERM "$d"; wait "$d" || true
    cat "$out/strace.txt"
    ;;
  perf)
    RUST_LOG=warn "$bin" --config "$out/daemon.yaml" > "$out/daemon.log" 2>&1 &
    d=$!; pids+=("$d"); sleep 1
    perf record -F 2000 -g -p "$d" -o "$out/perf.data" > "$out/perf.log" 2>&1 &
    s=$!; sleep 1
    caller "${CALLS:-20000}" "${RATE:-2000}" 1000
    kill -INT "$s"; wait "$s" || true
    kill -TERM "$d"; wait "$d" || true
    perf report -i "$out/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | head -60
    ;;
  massif)
    calls=${CALLS:-2000}; rate=${RATE:-100}
    RUST_LOG=warn valgrind --tool=massif --threshold="${THRESHOLD:-1.0}" --vgdb=yes --massif-out-file="$out/massif.out" "$bin" --config "$out/daemon.yaml" \
      > "$out/daemon.log" 2>&1 &
    d=$!; pids+=("$d"); sleep 5
    caller "$calls" "$rate" 600000 &
    c=$!; pids+=("$c")
    # Ramp, then 40 s for the setup transactions (Timers L/M, 32 s) to end: what is left is held calls.
    sleep $((calls / rate + ${SETTLE:-45}))
    vgdb --pid="$d" detailed_snapshot "$out/held.txt" > /dev/null
    kill -TERM "$d"; sleep 3; kill -KILL "$d" 2>/dev/null || true
    grep -m2 "mem_heap" "$out/held.txt"
    echo "per held call: $(( $(grep -m1 mem_heap_B= "$out/held.txt" | cut -d= -f2) / calls )) B of heap; tree in $out/held.txt"
    ;;
  *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
