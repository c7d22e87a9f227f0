#!/usr/bin/env bash
# bench/mqtt.sh: minicloud's MQTT broker against Debian's mosquitto, same machine, same client.
#
# Builds ./cmd/minicloud and bench/mqttload, starts `minicloud serve --mqtt` and mosquitto
# (installed with apt-get when missing) on loopback, and runs the same mqttload workloads against
# each, alternating targets so that machine noise hits both alike: QoS 0 and 1, 100-byte
# payloads, 1 and 100 publishers, one subscriber, as fast as the publishers can (each keeps up to
# 64 publishes unacknowledged), then a paced run at RATE msgs/s for latency. Delivered messages
# are counted at the subscriber, not only sent ones; after publishing, the subscriber gets up to
# 90 s (and at least until nothing arrives for 3 s) to receive what is still under way, so
# "lost" is what never arrived. Overloaded runs publish for longer than DURATION when the broker
# pushes back (minicloud slows publishers down rather than drop: see internal/mqtt/flow.go).
#
# mosquitto runs with max_queued_messages 0 and max_inflight_messages 0 (no limits): with
# Debian's defaults it drops messages under this load. It allows anonymous clients; minicloud
# checks every client's key (it cannot be turned off), which costs it a little.
#
# Then the same workloads again with a stream persisting every message on minicloud
# (`minicloud stream create bench --topics 'bench/#'`, fsync before each PUBACK, the default),
# rows marked "+stream", against the same mosquitto (which persists nothing); after each such
# run the stream's count of logged messages is checked against what the publishers sent; and
# QoS 1 once more with a stream created with --sync write (acknowledged once written: safe from
# a crash of the process, fsynced within 5 ms), rows "+stream sync=write".
#
# Environment (all optional):
#   STREAM=0       skip the stream phases
#   ROUNDS=1       rounds of every workload; the table shows medians and each round's ratio
#   DURATION=10s   publishing time of each run
#   RATE=10000     total msgs/s of the paced latency run
#   KEEP=1         keep the temp dir (logs, raw results)
#   ONLY=REGEX     run only the workloads whose name matches (bash regex), e.g.
#                  ONLY='^QoS 1, 1 pub( \+stream)?$' for QoS 1, one publisher, with and without stream
#
# After each "+stream" run the script also prints the stream log's group commits during the
# run, from minicloud's metrics: how many, messages per commit, and the fdatasync and
# commit-wait (first append of a group until durable) medians and p90s. The table's last column
# is each broker's own CPU time (user + system, from /proc) during a run per delivered message:
# on a machine where the load generator shares the cores, it is what decides the rates.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
RATE=${RATE:-10000}

if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
	echo "installing mosquitto"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >/dev/null; }
fi
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)

T=$(mktemp -d /tmp/minicloud-mqttbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ "${KEEP:-0}" = 1 ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT

go build -o "$T/minicloud" ./cmd/minicloud
go build -o "$T/mqttload" ./bench/mqttload

BASE=$((20000 + RANDOM % 20000))
MC_S3=127.0.0.1:$BASE MC_MQTT=127.0.0.1:$((BASE + 1)) MOSQ_PORT=$((BASE + 2))
export MINICLOUD_ROOT_ACCESS_KEY=benchroot MINICLOUD_ROOT_SECRET_KEY=bench-secret-0123456789
"$T/minicloud" serve --data "$T/mc" --s3 "$MC_S3" --mqtt "$MC_MQTT" --log-level warn >"$T/minicloud.log" 2>&1 &
MC_PID=$!
PIDS+=("$MC_PID")
cat >"$T/mosquitto.conf" <<CONF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 0
persistence false
log_dest file $T/mosquitto.log
CONF
"$MOSQ" -c "$T/mosquitto.conf" >/dev/null 2>&1 &
MOSQ_PID=$!
PIDS+=("$MOSQ_PID")
for hp in "$MC_MQTT" "127.0.0.1:$MOSQ_PORT"; do
	for i in $(seq 1 100); do (exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null && break; sleep 0.1; done
done

load() { # load TARGET LABEL ARGS...
	local target=$1 label=$2; shift 2
	if [ "$target" = minicloud ]; then
		"$T/mqttload" -tsv -broker "tcp://$MC_MQTT" -user "$MINICLOUD_ROOT_ACCESS_KEY" -pass "$MINICLOUD_ROOT_SECRET_KEY" -label "$label" "$@"
	else
		"$T/mqttload" -tsv -broker "tcp://127.0.0.1:$MOSQ_PORT" -label "$label" "$@"
	fi
}

: >"$T/results.tsv"
: >"$T/cpu.tsv"
run() { # run NAME ARGS...: both targets, minicloud first on even runs
	local name=$1; shift
	if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
	local order=(minicloud mosquitto)
	[ $((RUN % 2)) = 1 ] && order=(mosquitto minicloud)
	RUN=$((RUN + 1))
	for target in "${order[@]}"; do
		local pid=$MC_PID before
		[ "$target" = mosquitto ] && pid=$MOSQ_PID
		before=$(cputicks "$pid")
		load "$target" "$target|$name" -duration "$DURATION" -drain 90s "$@" | tee -a "$T/results.tsv" >/dev/null || echo "$target|$name failed" >&2
		printf '%s\t%s\n' "$target|$name" "$(($(cputicks "$pid") - before))" >>"$T/cpu.tsv"
	done
}
# cputicks PID: the process's CPU time (user + system) so far, in clock ticks
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
mc() { "$T/minicloud" "$@" --endpoint "http://$MC_S3"; }
logged() { mc stream list --json | jq --arg s "$1" '[.[] | select(.name == $s) | .messagesIn] | add // 0'; }
# commits STREAM: the stream's commit histograms from minicloud's metrics
commits() {
	curl -sf -u "$MINICLOUD_ROOT_ACCESS_KEY:$MINICLOUD_ROOT_SECRET_KEY" "http://$MC_S3/_minicloud/metrics" |
		grep -E "^minicloud_stream_(fsync|commit_wait)_seconds_(bucket|count|sum)\{.*stream=\"$1\"" || true
}
# commitstats BEFORE AFTER MESSAGES: commits between two snapshots, with medians and p90s
commitstats() {
	/usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys, re
def load(path):
    h = {}
    for line in open(path):
        m = re.match(r'minicloud_stream_(\w+)_seconds_(bucket|count|sum)\{(.*)\} (\S+)', line)
        if not m: continue
        name, kind, labels, v = m.groups()
        le = re.search(r'le="([^"]+)"', labels)
        h[(name, kind, le.group(1) if le else "")] = float(v)
    return h
a, b, msgs = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3] or 0)
def q(name, p):
    les = sorted((float(k[2]), k[2]) for k in b if k[0] == name and k[1] == "bucket" and k[2] != "+Inf")
    n = b.get((name, "count", ""), 0) - a.get((name, "count", ""), 0)
    for le, key in les:
        if b[(name, "bucket", key)] - a.get((name, "bucket", key), 0) >= p * n:
            return "<=%.2g ms" % (le * 1e3)
    return ">%.2g ms" % (les[-1][0] * 1e3) if les else "?"
n = b.get(("commit_wait", "count", ""), 0) - a.get(("commit_wait", "count", ""), 0)
fs = b.get(("fsync", "count", ""), 0) - a.get(("fsync", "count", ""), 0)
mean = (b.get(("fsync", "sum", ""), 0) - a.get(("fsync", "sum", ""), 0)) / fs * 1e3 if fs else 0
print("%d commits (%.1f msgs each), fdatasync p50 %s p90 %s mean %.2f ms, commit wait p50 %s p90 %s" % (
    n, msgs / n if n else 0, q("fsync", .5), q("fsync", .9), mean, q("commit_wait", .5), q("commit_wait", .9)))
PY
}
# srun STREAM NAME ARGS...: run with a check that every message sent to minicloud is in the log
srun() {
	local stream=$1 name=$2; shift 2
	local before after sent
	if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
	before=$(logged "$stream")
	commits "$stream" >"$T/commits-before"
	run "$name" "$@"
	commits "$stream" >"$T/commits-after"
	after=$(logged "$stream")
	sent=$(awk -F'\t' -v k="minicloud|$name" '$1 == k {s=$4} END {print s}' "$T/results.tsv")
	echo "round $ROUND, $name: stream logged $((after - before)) of $sent sent;" \
		"$(commitstats "$T/commits-before" "$T/commits-after" "$((after - before))")" | tee -a "$T/stream-check.txt"
}
if [ "${STREAM:-1}" = 1 ]; then
	mc stream create bench --topics 'bench/#' >/dev/null
	mc stream create benchw --topics 'benchw/#' --sync write >/dev/null
fi
RUN=0
echo "running: $ROUNDS rounds, $DURATION per run and target"
for ROUND in $(seq 1 "$ROUNDS"); do
	for qos in 0 1; do
		for pubs in 1 100; do
			run "QoS $qos, $pubs pub" -qos "$qos" -pubs "$pubs" -topic plain
		done
	done
	run "QoS 1, 1 pub, paced $RATE/s" -qos 1 -pubs 1 -rate "$RATE" -topic plain
	if [ "${STREAM:-1}" = 1 ]; then
		for qos in 0 1; do
			for pubs in 1 100; do
				srun bench "QoS $qos, $pubs pub +stream" -qos "$qos" -pubs "$pubs" -topic bench
			done
		done
		srun bench "QoS 1, 1 pub, paced $RATE/s +stream" -qos 1 -pubs 1 -rate "$RATE" -topic bench
		for pubs in 1 100; do
			srun benchw "QoS 1, $pubs pub +stream sync=write" -qos 1 -pubs "$pubs" -topic benchw
		done
	fi
	echo "round $ROUND done, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$T/loadavg.txt"
done

rss() { awk '/VmHWM/{printf "%.0f MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
echo
/usr/bin/python3 - "$T/results.tsv" "$T/cpu.tsv" "$TICK" <<'PY'
import sys, statistics
rows = {}
order = []
# The broker's CPU time during each run (both are alone on their process), per delivered message.
cpu = {}
for line in open(sys.argv[2]):
    label, ticks = line.rstrip("\n").split("\t")
    cpu.setdefault(label, []).append(int(ticks) / float(sys.argv[3]))
seen = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    target, name = f[0].split("|", 1)
    if name not in rows:
        rows[name] = {"minicloud": [], "mosquitto": []}
        order.append(name)
    i = seen[f[0]] = seen.get(f[0], -1) + 1
    secs = cpu.get(f[0], [])[i] if i < len(cpu.get(f[0], [])) else 0
    us = secs * 1e6 / int(f[4]) if int(f[4]) else 0
    rows[name][target].append((float(f[7]), int(f[5]), float(f[9]), us))  # delivered/s, lost, p99 ms, broker CPU us/msg
print("%-38s | %11s %11s %6s | %-17s | %8s %8s | %9s %9s | %9s" % ("workload (median of rounds)", "minicloud/s", "mosquitto/s", "ratio", "ratio per round", "mc lost", "mq lost", "mc p99ms", "mq p99ms", "CPU us/msg mc/mq"))
print("-" * 150)
for name in order:
    mc, mq = rows[name]["minicloud"], rows[name]["mosquitto"]
    med = lambda xs, i: statistics.median([x[i] for x in xs]) if xs else 0
    per = [a[0] / b[0] if b[0] else 0 for a, b in zip(mc, mq)]
    r = med(mc, 0) / med(mq, 0) if med(mq, 0) else 0
    print("%-38s | %11.0f %11.0f %5.2fx | %-17s | %8d %8d | %9.2f %9.2f | %5.1f / %4.1f" % (name, med(mc, 0), med(mq, 0), r, " ".join("%.2f" % x for x in per),
          sum(x[1] for x in mc), sum(x[1] for x in mq), med(mc, 2), med(mq, 2), med(mc, 3), med(mq, 3)))
PY
echo
echo "peak RSS: minicloud $(rss "$MC_PID"), mosquitto $(rss "$MOSQ_PID")"
echo "rates are delivered messages per second at the subscriber; lost = sent - delivered;"
echo "CPU us/msg: the broker process's CPU time (user + system) during the run per delivered message"
[ -f "$T/stream-check.txt" ] && { echo; cat "$T/stream-check.txt"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
