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
# run the stream's count of logged messages is checked against what the publishers sent.
#
# Environment (all optional):
#   STREAM=0       skip the stream phase
#   DURATION=10s   publishing time of each run
#   RATE=10000     total msgs/s of the paced latency run
#   KEEP=1         keep the temp dir (logs, raw results)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
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
run() { # run NAME ARGS...: both targets, minicloud first on even runs
	local name=$1; shift
	local order=(minicloud mosquitto)
	[ $((RUN % 2)) = 1 ] && order=(mosquitto minicloud)
	RUN=$((RUN + 1))
	for target in "${order[@]}"; do
		load "$target" "$target|$name" -duration "$DURATION" -drain 90s "$@" | tee -a "$T/results.tsv" >/dev/null || echo "$target|$name failed" >&2
	done
}
RUN=0
echo "running: $DURATION per run and target"
for qos in 0 1; do
	for pubs in 1 100; do
		run "QoS $qos, $pubs pub" -qos "$qos" -pubs "$pubs"
	done
done
run "QoS 1, 1 pub, paced $RATE/s" -qos 1 -pubs 1 -rate "$RATE"

mc() { "$T/minicloud" "$@" --endpoint "http://$MC_S3"; }
logged() { mc stream list --json | jq '[.[] | select(.name == "bench") | .messagesIn] | add // 0'; }
if [ "${STREAM:-1}" = 1 ]; then
	mc stream create bench --topics 'bench/#' >/dev/null
	# run with a check: every message sent to minicloud must be in the stream's log
	srun() {
		local name=$1; shift
		local before after sent
		before=$(logged)
		run "$name" "$@"
		after=$(logged)
		sent=$(awk -F'\t' -v k="minicloud|$name" '$1 == k {print $4}' "$T/results.tsv")
		echo "$name: stream logged $((after - before)) of $sent sent" | tee -a "$T/stream-check.txt"
	}
	for qos in 0 1; do
		for pubs in 1 100; do
			srun "QoS $qos, $pubs pub +stream" -qos "$qos" -pubs "$pubs"
		done
	done
	srun "QoS 1, 1 pub, paced $RATE/s +stream" -qos 1 -pubs 1 -rate "$RATE"
fi

rss() { awk '/VmHWM/{printf "%.0f MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
echo
printf '%-38s | %14s %14s %6s | %9s %9s | %11s %11s\n' workload "minicloud/s" "mosquitto/s" ratio "mc lost" "mq lost" "mc p99 ms" "mq p99 ms"
printf '%s\n' "-----------------------------+---------------------------------------+---------------------+------------------------"
awk -F'\t' '{split($1, a, "|"); k=a[2]; if (a[1]=="minicloud") {mc[k]=$8; mcl[k]=$6; mcp[k]=$10} else {mq[k]=$8; mql[k]=$6; mqp[k]=$10}; if (!(k in seen)) {seen[k]=1; order[n++]=k}}
	END {for (i=0;i<n;i++) {k=order[i]; r=(mq[k]>0)?mc[k]/mq[k]:0; printf "%-38s | %14d %14d %5.2fx | %9d %9d | %11.2f %11.2f\n", k, mc[k], mq[k], r, mcl[k], mql[k], mcp[k], mqp[k]}}' "$T/results.tsv"
echo
echo "peak RSS: minicloud $(rss "$MC_PID"), mosquitto $(rss "$MOSQ_PID")"
echo "rates are delivered messages per second at the subscriber; lost = sent - delivered"
[ -f "$T/stream-check.txt" ] && { echo; cat "$T/stream-check.txt"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
