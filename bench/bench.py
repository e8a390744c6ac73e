#!/usr/bin/env python3
"""sst-b2bua benchmarks, driven by SIPp on loopback.

  bench/bench.py cps       max calls/s through the daemon (stepping, then bisecting) and calls per CPU-second
  bench/bench.py direct    the same call flow SIPp → SIPp with no daemon: the load generator's own ceiling
  bench/bench.py kamailio  the same through Kamailio (stateful proxy, dialog tracking): the reference the CPU
                           target was set against, measured on the same host and hour as the daemon
  bench/bench.py memory    RSS with 0, 10k and 50k held bridged calls (timers on), bytes per call; two cycles
  bench/bench.py storm     20k calls at Session-Expires 90 refreshed by the daemon for 3 minutes
  bench/bench.py all       all of the above, then a results table (also written to bench/out/results.json)
  bench/bench.py smoke     every script once with tiny numbers (a few seconds each): keeps them working

Every process started here is stopped by PID; every run is bounded in calls and time; only 127.0.0.1 is used.
The daemon is the release build (cargo build --release). Nothing here runs in the normal test command.
"""

import argparse
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
BIN = ROOT / "target" / "release" / "sst-b2bua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIPP_COMMON = ["-nostdin", "-i", "127.0.0.1", "-buff_size", "4194304", "-t", "u1"]


def log(*args):
    print(*args, flush=True)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def stop(proc, grace=10.0):
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5)


def poll_until(ready, timeout):
    """Calls `ready` every second until it answers true (True) or `timeout` seconds have passed (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return True
        time.sleep(1)
    return False


class Server:
    """A process under test (the daemon, or Kamailio as the reference) with its log file."""

    def stop(self):
        code = stop(self.proc)
        self.log_file.close()
        return code


class Daemon(Server):
    """The release binary on a config of ours, logging stats every second."""

    def __init__(self, work, yaml):
        self.port = free_port()
        self.log_path = work / "daemon.log"
        config = work / "daemon.yaml"
        config.write_text(
            f"listen:\n  - {{ transport: udp, address: 127.0.0.1:{self.port} }}\n"
            f"  - {{ transport: tcp, address: 127.0.0.1:{self.port} }}\n" + yaml
        )
        env = dict(os.environ, RUST_LOG="warn,sst_b2bua::stats=info", NO_COLOR="1")
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(BIN), "--config", str(config)], stdout=self.log_file, stderr=subprocess.STDOUT, env=env
        )
        self.wait_for(r"stats", 10)

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stats(self):
        """The last stats line as a dict of its key=value fields."""
        last = None
        for line in self.log_path.read_text(errors="replace").splitlines():
            if " stats " in line or line.rstrip().endswith("stats"):
                last = line
        if last is None:
            return {}
        return dict(re.findall(r"(\w+)=([\d.]+)", last))

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-2000:]}")
            if re.search(pattern, self.log_path.read_text(errors="replace")):
                return
            time.sleep(0.2)
        raise RuntimeError(f"daemon never logged {pattern!r}")

    def wait_empty(self, timeout):
        """Until the daemon reports no live call and no index entry (stats every second)."""
        def empty():
            s = self.stats()
            return s.get("live_calls") == "0" and s.get("index_entries") == "0"
        return poll_until(empty, timeout)


class Kamailio(Server):
    """Kamailio 5.6 on bench/kamailio.cfg (stateful proxy with dialog tracking) in the foreground; its CPU is
    the sum over the main process and its children (UDP workers, timers). One UDP worker, as the daemon runs
    one thread: with two, a call's 180 and 200 are relayed by different workers at once and can reach the
    caller in the wrong order, which SIPp's scenario counts as a failed call (measured: 16 of 20,000 at
    2,000 calls/s, and every rate from 1,000 up failed in the first run)."""


    def __init__(self, work, callee_port, children=1):
        if not shutil.which("kamailio"):
            raise RuntimeError("kamailio is missing: apt-get install -y kamailio")
        modules = sorted(Path("/usr/lib").glob("*/kamailio/modules")) or [Path("/usr/lib/kamailio/modules")]
        self.port = free_port()
        self.ctl = work / "kamailio-ctl.sock"
        config = work / "kamailio.cfg"
        text = (BENCH / "kamailio.cfg").read_text()
        for name, value in {"CHILDREN": children, "UDP_PORT": self.port, "MODULES": modules[0],
                            "CTL_SOCKET": self.ctl, "CALLEE_PORT": callee_port}.items():
            text = text.replace(f"@{name}@", str(value))
        config.write_text(text)
        self.log_path = work / "kamailio.log"
        self.log_file = open(self.log_path, "w")
        # 1 GiB of shared memory: at 5,000 calls/s the transactions of ~30 s of calls are alive at once.
        # `-x tlsf`: the TLSF allocator. Debian's build defaults to qm (built with memory debugging), which
        # measured here at 2,674 calls per CPU-second against 10,621 with TLSF: the reference is the faster.
        self.proc = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", str(config), "-m", "1024", "-M", "16", "-x", "tlsf", "-Y", str(work)],
            stdout=self.log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 15
        while not self.ctl.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"kamailio did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(1)

    def pids(self):
        found = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def cpu_seconds(self):
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / CLK_TCK

    def rpc(self, *command):
        out = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", *command], capture_output=True, text=True,
                             timeout=10)
        return out.stdout

    def wait_empty(self, timeout):
        """Until Kamailio holds no transaction (tm's `current`). Dialogs are not waited for: after an
        overloaded run, a dialog whose ACK or BYE was lost stays until the dialog module's timeout (an hour),
        and costs nothing meanwhile. An INVITE transaction lasts up to tm's fr_inv_timer (120 s)."""
        def idle():
            transactions = re.search(r"current:\s*(\d+)", self.rpc("tm.stats"))
            return transactions is not None and transactions.group(1) == "0"
        return poll_until(idle, max(timeout, 180))


def sipp(work, name, args, timeout):
    """Starts SIPp; returns (process, stat file)."""
    stf = work / f"{name}.csv"
    errors = work / f"{name}.errors"
    cmd = ["sipp", *SIPP_COMMON, *args, "-trace_stat", "-stf", str(stf), "-fd", "1",
           "-trace_err", "-error_file", str(errors)]
    out = open(work / f"{name}.out", "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    proc.timeout_at = time.time() + timeout
    return proc, stf


def last_stats(stf):
    if not stf.exists():
        return {}
    rows = list(csv.reader(stf.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def wait_sipp(proc, stf):
    try:
        proc.wait(timeout=max(1, proc.timeout_at - time.time()))
    except subprocess.TimeoutExpired:
        stop(proc)
    time.sleep(0.2)
    return proc.returncode, last_stats(stf)


def num(stats, key):
    try:
        return int(float(stats.get(key, "0") or 0))
    except ValueError:
        return 0


def callee(work, name):
    port = free_port()
    proc, _ = sipp(work, name, ["-sf", str(BENCH / "uas.xml"), "-p", str(port)], timeout=3600)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError(f"callee SIPp exited: {(work / (name + '.out')).read_text()[-1500:]}")
    return proc, port


def probe(work, rate, seconds, target_port, daemon=None, hold_ms=1000):
    """One run at `rate` calls/s for `seconds`: (passed, detail)."""
    calls = rate * seconds
    cpu0 = daemon.cpu_seconds() if daemon else 0.0
    proc, stf = sipp(
        work, f"uac_{rate}",
        ["-sf", str(BENCH / "uac.xml"), f"127.0.0.1:{target_port}", "-p", str(free_port()),
         "-r", str(rate), "-m", str(calls), "-d", str(hold_ms), "-l", str(rate * 4 + 100),
         "-timeout", f"{seconds + 40}s", "-timeout_error", "-recv_timeout", "20000"],
        timeout=seconds + 60,
    )
    started = time.time()
    code, stats = wait_sipp(proc, stf)
    elapsed = time.time() - started
    cpu = (daemon.cpu_seconds() - cpu0) if daemon else 0.0
    ok, failed, retrans = num(stats, "SuccessfulCall(C)"), num(stats, "FailedCall(C)"), num(stats, "Retransmissions(C)")
    total = max(ok + failed, 1)
    passed = code == 0 and failed / total < 0.001 and retrans / total < 0.001 and ok >= calls * 0.999
    detail = {"rate": rate, "calls": calls, "ok": ok, "failed": failed, "retransmissions": retrans,
              "elapsed_s": round(elapsed, 1), "daemon_cpu_s": round(cpu, 2)}
    log(f"  {rate:>6} calls/s: {ok} ok, {failed} failed, {retrans} retransmissions, CPU of the server {cpu:.2f} s"
        f" -> {'pass' if passed else 'FAIL'}")
    return passed, detail


def settle(daemon):
    """Between two rates: the daemon back to idle (an overloaded run leaves calls and transactions that
    end only by their timers, up to 64*T1 later), so that each rate starts from the same state."""
    if daemon and not daemon.wait_empty(120):
        raise RuntimeError("the daemon did not get back to zero live calls within 120 s")
    time.sleep(3)


def max_cps(work, through, start=250, seconds=10, ceiling=40000):
    """Highest passing rate through "daemon", "kamailio" or "direct" (SIPp to SIPp): double until a failure,
    then bisect to within 5 %."""
    callee_proc, callee_port = callee(work, "uas")
    daemon = None
    try:
        if through == "daemon":
            daemon = Daemon(work, DAEMON_YAML.format(uas=callee_port, se=1800))
        elif through == "kamailio":
            daemon = Kamailio(work, callee_port)
        target = callee_port if daemon is None else daemon.port
        lo, hi, best = 0, None, None
        rate = start
        while hi is None and rate <= ceiling:
            passed, detail = probe(work, rate, seconds, target, daemon)
            if passed:
                lo, best = rate, detail
                rate *= 2
            else:
                hi = rate
            settle(daemon)
        while hi is not None and hi - lo > max(lo * 0.05, 10):
            mid = (lo + hi) // 2
            passed, detail = probe(work, mid, seconds, target, daemon)
            if passed:
                lo, best = mid, detail
            else:
                hi = mid
            settle(daemon)
        result = {"max_cps": lo, "at_max": best}
        if daemon and best and best["daemon_cpu_s"] > 0:
            result["calls_per_cpu_second"] = round(best["ok"] / best["daemon_cpu_s"])
        return result
    finally:
        if daemon:
            daemon.stop()
        stop(callee_proc)


DAEMON_YAML = """session_timer: {{ enabled: true, default_expires: {se}, min_se: 90, prefer_refresher: uac }}
routes:
  - {{ name: bench, from: {{ source: 127.0.0.0/8 }}, to: "sip:127.0.0.1:{uas}" }}
limits: {{ stats_interval: 1, max_calls: 200000 }}
"""


def hold(work, daemon, target, calls, rate, hold_ms, name):
    proc, stf = sipp(
        work, name,
        ["-sf", str(BENCH / "uac.xml"), f"127.0.0.1:{target}", "-p", str(free_port()),
         "-r", str(rate), "-m", str(calls), "-d", str(hold_ms), "-l", str(calls + 10),
         "-timeout", f"{hold_ms // 1000 + calls // rate + 120}s", "-timeout_error", "-recv_timeout", "60000"],
        timeout=hold_ms // 1000 + calls // rate + 150,
    )
    return proc, stf


def wait_live(daemon, want, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if num(daemon.stats(), "live_calls") >= want:
            return True
        time.sleep(0.5)
    return False


def memory(work, counts=(10000, 50000), rate=1000, settle=40, cycles=2):
    """RSS at 0 and at each held-call count (after `settle` s, when setup transactions have ended)."""
    callee_proc, callee_port = callee(work, "uas")
    daemon = Daemon(work, DAEMON_YAML.format(uas=callee_port, se=1800))
    results = []
    try:
        for cycle in range(1, cycles + 1):
            time.sleep(2)
            points = [(0, daemon.rss_bytes())]
            held, procs = 0, []
            peak = points[0][1]
            hold_ms = (sum(counts) // rate + settle * len(counts) + 30) * 1000
            for count in counts:
                batch = count - held
                proc, stf = hold(work, daemon, daemon.port, batch, rate, hold_ms, f"hold_{cycle}_{count}")
                procs.append((proc, stf))
                if not wait_live(daemon, count, batch / rate + 60):
                    raise RuntimeError(f"only {daemon.stats().get('live_calls')} of {count} calls came up")
                time.sleep(settle)
                rss = daemon.rss_bytes()
                peak = max(peak, rss)
                points.append((count, rss))
                held = count
                log(f"  cycle {cycle}: {count} held calls, RSS {rss / 1e6:.1f} MB")
            failed = 0
            for proc, stf in procs:
                _, stats = wait_sipp(proc, stf)
                failed += num(stats, "FailedCall(C)")
            empty = daemon.wait_empty(120)
            (c0, r0), (c1, r1) = points[1], points[-1]
            per_call = (r1 - r0) / (c1 - c0) if c1 > c0 else 0
            results.append({"cycle": cycle, "points": points, "bytes_per_call": round(per_call),
                            "peak_rss": peak, "failed": failed, "empty_after": empty,
                            "rss_after": daemon.rss_bytes()})
            log(f"  cycle {cycle}: {per_call:.0f} bytes per held call, peak {peak / 1e6:.1f} MB,"
                f" failed {failed}, zero live calls after: {empty}")
        return {"cycles": results,
                "second_peak_within_10pct": len(results) < 2
                or results[1]["peak_rss"] <= results[0]["peak_rss"] * 1.10}
    finally:
        daemon.stop()
        stop(callee_proc)


STORM_YAML = """session_timer: {{ enabled: false }}
trunks:
  - {{ name: storm, uri: "sip:127.0.0.1:{uas}", session_timer: {{ enabled: true, default_expires: 90, min_se: 90 }} }}
routes:
  - {{ name: storm, from: {{ source: 127.0.0.0/8 }}, to: {{ trunk: storm }} }}
limits: {{ stats_interval: 1, max_calls: 200000 }}
"""


def storm(work, calls=20000, rate=1000, hold_s=200):
    """`calls` calls whose leg B the daemon refreshes every 45 s, held `hold_s` seconds."""
    callee_proc, callee_port = callee(work, "uas")
    daemon = Daemon(work, STORM_YAML.format(uas=callee_port))
    try:
        proc, stf = hold(work, daemon, daemon.port, calls, rate, hold_s * 1000, "storm")
        code, stats = wait_sipp(proc, stf)
        empty = daemon.wait_empty(120)
        s = daemon.stats()
        callee_stats = last_stats(work / "uas.csv")
        result = {
            "calls": calls, "ok": num(stats, "SuccessfulCall(C)"), "failed": num(stats, "FailedCall(C)"),
            "caller_exit": code, "callee_failed": num(callee_stats, "FailedCall(C)"),
            "callee_calls_ok": num(callee_stats, "SuccessfulCall(C)"),
            "timer_wakeups": s.get("timer_wakeups"), "late_p50_ms": s.get("timer_late_p50_ms"),
            "late_p99_ms": s.get("timer_late_p99_ms"), "late_max_ms": s.get("timer_late_max_ms"),
            "zero_live_calls_after": empty,
        }
        log(f"  storm: {result}")
        return result
    finally:
        daemon.stop()
        stop(callee_proc)


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "cpu": cpu,
            "sipp": subprocess.run(["sipp", "-v"], capture_output=True, text=True).stdout.strip().splitlines()[0:1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["cps", "direct", "kamailio", "memory", "storm", "all", "smoke"])
    args = parser.parse_args()
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: run `cargo build --release` first")
    OUT.mkdir(exist_ok=True)
    results = {"machine": machine()}
    # The work directory (configs, SIPp stats and errors, daemon log) is kept for a look after the run.
    work = OUT / f"work-{args.what}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if True:
        if args.what in ("cps", "all"):
            log("max CPS through the daemon:")
            results["daemon"] = max_cps(work, "daemon")
        if args.what in ("direct", "all"):
            log("max CPS SIPp → SIPp (no daemon):")
            results["direct"] = max_cps(work, "direct")
        if args.what in ("kamailio", "all"):
            log("max CPS through Kamailio (stateful proxy, dialog tracking):")
            results["kamailio"] = max_cps(work, "kamailio")
        if args.what in ("memory", "all"):
            log("memory per held call:")
            results["memory"] = memory(work)
        if args.what in ("storm", "all"):
            log("refresh storm:")
            results["storm"] = storm(work)
        if args.what == "smoke":
            log("smoke: cps"); results["daemon"] = max_cps(work, "daemon", start=20, seconds=2, ceiling=40)
            log("smoke: direct"); results["direct"] = max_cps(work, "direct", start=20, seconds=2, ceiling=40)
            log("smoke: kamailio"); results["kamailio"] = max_cps(work, "kamailio", start=20, seconds=2, ceiling=40)
            log("smoke: memory"); results["memory"] = memory(work, counts=(50, 100), rate=100, settle=2, cycles=2)
            log("smoke: storm"); results["storm"] = storm(work, calls=20, rate=20, hold_s=3)
    if "daemon" in results and "direct" in results and results["direct"]["max_cps"]:
        results["daemon_over_direct"] = round(results["daemon"]["max_cps"] / results["direct"]["max_cps"], 2)
    if results.get("daemon", {}).get("calls_per_cpu_second") and results.get("kamailio", {}).get("calls_per_cpu_second"):
        results["daemon_over_kamailio_per_cpu_second"] = round(
            results["daemon"]["calls_per_cpu_second"] / results["kamailio"]["calls_per_cpu_second"], 2)
    (OUT / f"{args.what}.json").write_text(json.dumps(results, indent=2))
    log(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
