#!/usr/bin/env bash
# Soak test of the always-on mode: run pybpf-prof with --interval for a long
# time at a high rate while Python processes come and go, sample the agent's
# memory, CPU, open fds and locked memory into a CSV, and at the end check
# every profile it wrote with build/pprofcheck. ctest runs an 80 s form
# (soak.short); the issue's form is the default: 1 h, 999 Hz, 10 s intervals.
#
# Usage (as root): tools/soak.sh [options]
#   --duration S    how long to run (default 3600)
#   --interval S    the agent's --interval (default 10)
#   --rate HZ       the agent's --rate (default 999)
#   --churn N       short-lived Python processes started per second (default 5)
#   --every S       sampling period of RSS / CPU / fds / map fill (default 60)
#   --push          also push to build/push-receiver, which is stopped for 20 s
#                   every 60 s (a push target that goes up and down)
#   --out DIR       where the CSV, logs and profiles go (default: a new /tmp/pybpf-soak.XXXXXX)
#   --python PATH   interpreter for the workload (default python3)
#   --prof PATH     the agent (default build/pybpf-prof)
#   --churn-only    only the process churn, no agent (to try the workload)
#   -- ARGS...      extra arguments for the agent (e.g. --push URL)
#
# Workload: every second a short-lived process of one of several shapes
# (busy 200 ms and exit; 5 s of nested calls; 4 threads for 2 s; imports and
# exit) plus two long-running ones (a CPU loop, a thread pool). Everything
# started here is stopped on exit, Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=3600
INTERVAL=10
RATE=999
CHURN=5
EVERY=60
PUSH=0
OUT=""
PY=python3
PROF=build/pybpf-prof
CHURN_ONLY=0
EXTRA=()

die() { echo "soak: $*" >&2; exit 2; }
posint() { [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || die "$1 wants a positive integer, not '$2'"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) posint "$1" "${2-}"; DURATION=$2; shift 2 ;;
    --interval) posint "$1" "${2-}"; INTERVAL=$2; shift 2 ;;
    --every) posint "$1" "${2-}"; EVERY=$2; shift 2 ;;
    --rate) posint "$1" "${2-}"; RATE=$2; shift 2 ;;
    --churn) posint "$1" "${2-}"; CHURN=$2; shift 2 ;;
    --push) PUSH=1; shift ;;
    --out) OUT=${2?}; shift 2 ;;
    --python) PY=${2?}; shift 2 ;;
    --prof) PROF=${2?}; shift 2 ;;
    --churn-only) CHURN_ONLY=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

command -v "$PY" >/dev/null || die "no interpreter '$PY'"
if [ "$CHURN_ONLY" -eq 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "run as root (the agent needs CAP_BPF and CAP_PERFMON)"
  [ -x "$PROF" ] || die "no agent at $PROF (build first: tools/setup.sh)"
  # grep reads all of the help text: with -q it could exit early and the
  # agent's SIGPIPE would fail the pipeline under pipefail
  "$PROF" --help 2>&1 | grep -c -- '--output-dir' >/dev/null || die "$PROF has no --interval/--output-dir mode"
fi
PPROFCHECK=${PYBPF_PPROFCHECK:-build/pprofcheck}

if [ -z "$OUT" ]; then
  OUT=$(mktemp -d /tmp/pybpf-soak.XXXXXX)
else
  mkdir -p "$OUT"
  rm -rf "$OUT/profiles" "$OUT/workload" "$OUT/summary.txt" # a reused --out starts clean
fi
PROFDIR="$OUT/profiles"
WORK="$OUT/workload"
CSV="$OUT/agent.csv"
mkdir -p "$PROFDIR" "$WORK"

# ---- the workload scripts (each its own service name) ----
cat > "$WORK/quick.py" <<'PY'
import time
t = time.perf_counter()
while time.perf_counter() - t < 0.2:
    sum(i * i for i in range(1000))
PY
cat > "$WORK/medium.py" <<'PY'
import time
def leaf(n):
    return sum(i % 7 for i in range(n))
def middle(n):
    return leaf(n) + leaf(n // 2)
class Job:
    def run(self, seconds):
        t = time.perf_counter()
        while time.perf_counter() - t < seconds:
            middle(20000)
Job().run(5)
PY
cat > "$WORK/threaded.py" <<'PY'
import threading, time
def spin(seconds):
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        sum(range(5000))
threads = [threading.Thread(target=spin, args=(2,), name=f"spin-{i}") for i in range(4)]
for th in threads:
    th.start()
for th in threads:
    th.join()
PY
cat > "$WORK/imports.py" <<'PY'
import json, email.parser, http.client, decimal, xml.dom.minidom, argparse
json.dumps({"k": [decimal.Decimal(1) / 7] * 10}, default=str)
PY
cat > "$WORK/long_cpu.py" <<'PY'
import time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
while True:
    fib(20)
    time.sleep(0.05)
PY
cat > "$WORK/long_pool.py" <<'PY'
from concurrent.futures import ThreadPoolExecutor
import time
def work(i):
    return sum(j * j for j in range(20000 + i))
with ThreadPoolExecutor(max_workers=3) as pool:
    while True:
        list(pool.map(work, range(12)))
        time.sleep(0.1)
PY

# ---- stopping everything we started ----
# Job control gives each background job its own process group, so a job and
# everything it started can be signalled together.
set -m
GROUPS_STARTED=()
AGENT=""
CLEANED=0
cleanup() {
  [ "$CLEANED" -eq 1 ] && return
  CLEANED=1
  for g in "${GROUPS_STARTED[@]}"; do
    kill -TERM -- "-$g" 2>/dev/null || true
  done
  if [ -n "$AGENT" ] && kill -0 "$AGENT" 2>/dev/null; then
    kill -TERM "$AGENT" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$AGENT" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$AGENT" 2>/dev/null || true
  fi
  for g in "${GROUPS_STARTED[@]}"; do
    kill -KILL -- "-$g" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 130' INT TERM

churn() {
  local shapes=(quick medium threaded quick imports threaded medium quick) i=0
  while :; do
    "$PY" "$WORK/${shapes[i % ${#shapes[@]}]}.py" &
    i=$((i + 1))
    sleep "$(awk -v n="$CHURN" 'BEGIN {printf "%.3f", 1 / n}')"
  done
}

# A push receiver that is up for 40 s, then down for 20 s, and so on.
receiver_cycle() {
  local port=$1
  while :; do
    "$RECEIVER" -listen "127.0.0.1:$port" >> "$OUT/receiver.log" 2>&1 &
    local r=$!
    sleep 40
    kill -TERM "$r" 2>/dev/null || true
    wait "$r" 2>/dev/null || true
    sleep 20
  done
}

# ---- start ----
CLK_TCK=$(getconf CLK_TCK)
AGENT_START_TICKS=0
if [ "$PUSH" -eq 1 ]; then
  RECEIVER=${PYBPF_PUSH_RECEIVER:-build/push-receiver}
  [ -x "$RECEIVER" ] || die "no push receiver at $RECEIVER (built with the tests)"
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  receiver_cycle "$PORT" > /dev/null 2>&1 &
  GROUPS_STARTED+=($!)
  EXTRA+=(--push "http://127.0.0.1:$PORT")
fi
if [ "$CHURN_ONLY" -eq 0 ]; then
  "$PROF" --all-pythons --rate "$RATE" --interval "$INTERVAL" --output-dir "$PROFDIR" \
    ${EXTRA[@]+"${EXTRA[@]}"} 2> "$OUT/agent.log" &
  AGENT=$!
  GROUPS_STARTED+=("$AGENT")
fi
"$PY" "$WORK/long_cpu.py" & GROUPS_STARTED+=($!)
"$PY" "$WORK/long_pool.py" & GROUPS_STARTED+=($!)
churn > /dev/null 2>&1 &
GROUPS_STARTED+=($!)
set +m # the groups stay; no job notices from here on

echo "soak: ${DURATION}s, agent --rate $RATE --interval ${INTERVAL}s, churn $CHURN/s, push $PUSH, output in $OUT" >&2
echo "elapsed_s,rss_kb,hwm_kb,cpu_s,fds,locked_kb,files,pythons,map_fill_pct,map_fill_name,maps_fds" > "$CSV"

# VmRSS, VmHWM (kB), utime+stime (s), open fds, VmLck (kB) and the fds of
# processes' /proc/PID/maps of the agent. Those are its pending looks at
# processes just exec'd (one each, at most 256, closed when the process is
# registered, gone or given up on): they follow the churn, not a leak, so
# they are counted apart from the other fds.
agent_sample() {
  local rss hwm stat rest ticks fds lck mapfds
  [ -n "$AGENT" ] && [ -r "/proc/$AGENT/status" ] || return 1
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT/status" 2>/dev/null) || return 1
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$AGENT/status" 2>/dev/null) || return 1
  stat=$(cat "/proc/$AGENT/stat" 2>/dev/null) || return 1
  rest=${stat##*) }   # after the command name, which may hold spaces
  # fields after ')' start at 3 (state): utime is 14, stime 15
  ticks=$(echo "$rest" | awk '{print $12 + $13}')
  # one listing for both counts: the maps fds come and go between two
  read -r fds mapfds < <(ls -l "/proc/$AGENT/fd" 2>/dev/null |
    awk '/ -> / {n++} / -> \/proc\/[0-9]+\/maps$/ {m++} END {print n + 0, m + 0}')
  lck=$(awk '/^VmLck:/ {print $2}' "/proc/$AGENT/status" 2>/dev/null)
  echo "$rss $hwm $(awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}') $((fds - mapfds)) ${lck:-0} $mapfds"
}

# Fill of the agent's fullest BPF hash map: "PERCENT NAME" (keys /
# max_entries of each BPF_MAP_TYPE_HASH map the agent holds an fd of, keys
# counted with BPF_MAP_GET_NEXT_KEY: no values are copied), or "0 -" when
# none can be read. LRU maps are left out: they are meant to be full and
# evict their oldest entries; a full plain hash map loses samples (counted
# as stack_map_full, count_map_full...).
map_fill() {
  [ -n "$AGENT" ] || { echo "0 -"; return; }
  python3 - "$AGENT" <<'PYFILL' 2>/dev/null || echo "0 -"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF, GET_NEXT_KEY, GET_FD_BY_ID, GET_INFO_BY_FD = 321, 4, 14, 15  # x86-64


def bpf(cmd, attr):
    return libc.syscall(SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))


pid, best = sys.argv[1], (0.0, "-")
for fd in os.listdir("/proc/%s/fdinfo" % pid):
    try:
        info = dict(l.split(":", 1) for l in open("/proc/%s/fdinfo/%s" % (pid, fd)) if ":" in l)
    except OSError:
        continue
    if "map_id" not in info or info.get("map_type", "").strip() != "1":
        continue  # BPF_MAP_TYPE_HASH only
    cap, ksize = int(info["max_entries"]), int(info["key_size"])
    attr = (ctypes.c_uint32 * 4)(int(info["map_id"]))
    mfd = bpf(GET_FD_BY_ID, attr)
    if mfd < 0:
        continue
    minfo = (ctypes.c_uint8 * 128)()
    iattr = (ctypes.c_uint64 * 2)(mfd, (128 << 32))
    ctypes.c_uint64.from_buffer(iattr, 8).value = ctypes.addressof(minfo)
    ctypes.c_uint32.from_buffer(iattr, 4).value = 128
    name = bytes(minfo[24:40]).split(b"\0")[0].decode() if bpf(GET_INFO_BY_FD, iattr) == 0 else "?"
    key, nxt, n = ctypes.create_string_buffer(ksize), ctypes.create_string_buffer(ksize), 0
    kattr = (ctypes.c_uint64 * 3)(mfd, 0, ctypes.addressof(nxt))
    while n <= cap and bpf(GET_NEXT_KEY, kattr) == 0:
        n += 1
        ctypes.memmove(key, nxt, ksize)
        kattr[1] = ctypes.addressof(key)
    os.close(mfd)
    if cap and 100.0 * n / cap >= best[0]:
        best = (100.0 * n / cap, name)
print("%.1f %s" % best)
PYFILL
}

START=$(date +%s)
status=0
STALLED=0
while :; do
  now=$(date +%s)
  elapsed=$((now - START))
  files=$(find "$PROFDIR" -maxdepth 1 -name 'pybpf-*.pb.gz' | wc -l)
  pythons=$(pgrep -c -f "$WORK/" || true)
  if [ "$CHURN_ONLY" -eq 0 ]; then
    if ! s=$(agent_sample); then
      echo "soak: the agent exited early (see $OUT/agent.log)" >&2
      status=1
      break
    fi
    read -r rss hwm cpu fds lck mapfds <<< "$s"
    read -r fill fillname <<< "$(map_fill)"
  else
    rss="" hwm="" cpu="" fds="" lck="" fill="" fillname="" mapfds=""
  fi
  echo "$elapsed,$rss,$hwm,$cpu,$fds,$lck,$files,$pythons,$fill,$fillname,$mapfds" >> "$CSV"
  # The agent must keep writing: no new file for 5 intervals (and 2 samples) is a stall.
  if [ "$CHURN_ONLY" -eq 0 ]; then
    if [ "$files" -ne "${last_files:--1}" ]; then
      last_files=$files last_change=$elapsed same=0
    else
      same=$((same + 1))
      if [ "$same" -ge 2 ] && [ $((elapsed - last_change)) -ge $((5 * INTERVAL)) ] && [ "$STALLED" -eq 0 ]; then
        echo "soak: STALL: no new profile for $((elapsed - last_change)) s (at ${elapsed} s, $files files)" >&2
        STALLED=1
        status=1
      fi
    fi
  fi
  [ "$elapsed" -ge "$DURATION" ] && break
  sleep "$EVERY"
done

# ---- stop: the workload first, then the agent (which writes its last interval) ----
for g in "${GROUPS_STARTED[@]}"; do
  [ "$g" = "$AGENT" ] || kill -TERM -- "-$g" 2>/dev/null || true
done
agent_rc=""
if [ -n "$AGENT" ]; then
  if kill -0 "$AGENT" 2>/dev/null; then
    kill -TERM "$AGENT" 2>/dev/null || true
  fi
  # A hung agent must not hang the soak: 120 s to write its last interval.
  for _ in $(seq 1 1200); do
    [ "$(awk '{print $3}' "/proc/$AGENT/stat" 2>/dev/null)" = Z ] && break
    kill -0 "$AGENT" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$AGENT" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$AGENT/stat" 2>/dev/null)" != Z ]; then
    echo "soak: the agent did not exit within 120 s of SIGTERM: killed" >&2
    kill -KILL "$AGENT" 2>/dev/null || true
    status=1
  fi
  set +e
  wait "$AGENT"
  agent_rc=$?
  set -e
  AGENT=""
fi
cleanup

# ---- summary (also in $OUT/summary.txt) ----
exec > >(tee "$OUT/summary.txt")
echo
echo "soak summary ($OUT)"
awk -F, -v dur="$DURATION" '
  NR == 1 { next }
  { n++; t[n] = $1; rss[n] = $2; hwm[n] = $3; cpu[n] = $4; fd[n] = $5; lck[n] = $6; files = $7; py[n] = $8
    if ($2 > maxrss) maxrss = $2; if ($3 > maxhwm) maxhwm = $3
    if ($9 != "" && $9 + 0 >= maxfill) { maxfill = $9 + 0; fillname = $10 }
    if ($11 + 0 > maxmapfds) maxmapfds = $11 + 0 }
  END {
    if (!n) { print "  no samples"; exit }
    mid = int((n + 1) / 2)
    printf "  samples: %d over %d s; Python processes at a time: %d..%d\n", n, t[n], minp(py, n), maxp(py, n)
    if (rss[1] != "") {
      printf "  agent RSS (MiB): start %.1f, mid %.1f, end %.1f, max %.1f (VmHWM %.1f)\n",
        rss[1] / 1024, rss[mid] / 1024, rss[n] / 1024, maxrss / 1024, maxhwm / 1024
      if (t[n] > t[1])
        printf "  agent CPU: %.2f s, %.2f%% of one core\n", cpu[n] - cpu[1], 100 * (cpu[n] - cpu[1]) / (t[n] - t[1])
      printf "  agent fds: start %d, mid %d, end %d (besides at most %d maps of processes just exec\047d); locked memory (kB): start %d, end %d\n",
        fd[1], fd[mid], fd[n], maxmapfds, lck[1], lck[n]
      if (fillname != "")
        printf "  fullest BPF hash map: %s, %.1f%% of its entries at most\n", fillname, maxfill
    }
  }
  function minp(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
  function maxp(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
' "$CSV"

if [ "$CHURN_ONLY" -eq 0 ]; then
  echo "  agent exit status: ${agent_rc:-?}"
  [ "$STALLED" -eq 0 ] || echo "  STALLED: the agent stopped writing profiles for 5 intervals or more (see above)"
  nfiles=0 valid=0
  for f in "$PROFDIR"/pybpf-*.pb.gz; do
    [ -e "$f" ] || continue
    nfiles=$((nfiles + 1))
    if [ -x "$PPROFCHECK" ]; then
      if "$PPROFCHECK" "$f" > /dev/null 2>> "$OUT/pprofcheck.log"; then
        valid=$((valid + 1))
      else
        echo "  INVALID: $f" >&2
      fi
    fi
  done
  if [ -x "$PPROFCHECK" ]; then
    echo "  files: $nfiles, valid (google/pprof): $valid"
    [ "$nfiles" -gt 0 ] && [ "$valid" -eq "$nfiles" ] || status=1
  else
    echo "  files: $nfiles (not checked: no $PPROFCHECK)"
  fi
  [ "${agent_rc:-1}" -eq 0 ] || status=1
  # Open fds must not grow with the number of processes seen (a leak).
  fd_growth=$(awk -F, 'NR == 2 {a = $5} END {print $5 - a}' "$CSV")
  if [ "${fd_growth:-0}" -gt 32 ]; then
    echo "  FD LEAK: the agent's open fds grew by $fd_growth" >&2
    status=1
  fi
  # The pending looks' maps fds are bounded by the registry (256).
  max_mapfds=$(awk -F, 'NR > 1 && $11 + 0 > m {m = $11 + 0} END {print m + 0}' "$CSV")
  if [ "$max_mapfds" -gt 256 ]; then
    echo "  FD LEAK: $max_mapfds fds of processes' maps at once (the registry keeps at most 256)" >&2
    status=1
  fi
  echo "  last lines of the agent's log:"
  tail -n 3 "$OUT/agent.log" | sed 's/^/    /'
fi
echo "  CSV: $CSV"
exit "$status"
