#!/usr/bin/env bash
# bench/geo.sh: geo-replication between two sites on this machine.
#
# Builds ./cmd/minicloud and bench/geoload, starts site a and site b (one node each, joined by
# the mesh, loopback) with data dirs under one temp dir, creates bucket "geo" hosted by a and b
# and bucket "solo" hosted by a only, and then:
#   1. lag: RATE PUT/s of SIZE objects into "lag" (hosted by a and b) at a for DURATION, while listing it at b
#      to record when each object first appears there; prints the replication lag p50/p90/p99
#      (PUT acknowledged at a -> first listing at b that shows the key);
#   2. PUT latency at a with cross-site replication on ("geo") and off ("solo"), same pacing,
#      ROUNDS times each, alternating which goes first; prints p50/p99 (medians over rounds)
#      and the ratio on/off, and the CPU time each site's process spent per PUT (the run plus its
#      outbox drain): on a loaded shared machine latencies swing with other work, CPU time much
#      less. After each run site a's outbox to b is left to drain (at most 180 s), so one run's
#      backlog does not load the next. Both runs of a round use the same two processes, the same
#      pacing and buckets that differ only in their hosting sites.
#
# Environment (all optional):
#   RATE=500         PUTs per second (paced, open loop)
#   SIZE=16KiB       object size
#   DURATION=30s     each timed run (QUICK=1: 5s)
#   ROUNDS=3         on/off pairs of step 2 (QUICK=1: 1)
#   POLL=10ms        pause between two listings at b
#   BENCH_DIR=/tmp   where the temp dir goes
#   ONLY=lag|latency run only step 1 or step 2
#   KEEP=1           keep the temp dir (data, logs, raw results) afterwards
#   MINICLOUD_BIN    use this minicloud binary instead of building ./cmd/minicloud
#   BSTOP=1          each round also runs "on" with site b's process stopped (SIGSTOP) during the
#                    timed run and resumed for the drain: what replication costs a's PUTs when
#                    site b's apply does not share the machine with them (a's queueing stays)
#   PPROF=1          serve Go's profiler for each site on a free loopback port (logged at start),
#                    to take CPU profiles of a run: curl http://ADDR/debug/pprof/profile?seconds=10
#
# Exit status: 0 when every run finished without errors and every object reached b; else 1.
set -euo pipefail
unset AWS_CA_BUNDLE

cd "$(dirname "$0")/.."
REPO=$PWD

if [[ "${QUICK:-0}" == 1 ]]; then
	DURATION=${DURATION:-5s} ROUNDS=${ROUNDS:-1}
fi
RATE=${RATE:-500}
SIZE=${SIZE:-16KiB}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-3}
POLL=${POLL:-10ms}
ACCESS=geobench
SECRET=geo-$RANDOM$RANDOM$RANDOM
MESH_SECRET=mesh-$RANDOM$RANDOM$RANDOM$RANDOM

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/minicloud-geo.XXXXXX")
RESULTS=$WORK/results.txt
FAILED=0
declare -A PID S3

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
	local site
	for site in "${!PID[@]}"; do
		kill "${PID[$site]}" 2>/dev/null || true
	done
	for site in "${!PID[@]}"; do
		wait "${PID[$site]}" 2>/dev/null || true
	done
	if [[ "${KEEP:-0}" == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() {
	mkdir -p "$WORK/bin"
	go build -o "$WORK/bin/geoload" ./bench/geoload
	if [[ -n "${MINICLOUD_BIN:-}" ]]; then
		ln -s "$(realpath "$MINICLOUD_BIN")" "$WORK/bin/minicloud"
	else
		go build -o "$WORK/bin/minicloud" ./cmd/minicloud
	fi
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

# wait_serving PID ADDR: wait until ADDR answers HTTP (any status but 503), at most 60 s.
wait_serving() {
	local pid=$1 addr=$2 code
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(curl -s --noproxy '*' -m 2 -o /dev/null -w '%{http_code}' "http://$addr/" || true)
		if [[ "$code" != 000 && "$code" != 503 ]]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# start_site NAME [JOIN]: one node of site NAME; its gossip address is printed for others to join.
start_site() {
	local site=$1 join=${2:-} s3 mesh pprof=
	s3=127.0.0.1:$(free_port) mesh=127.0.0.1:$(free_port)
	if [[ "${PPROF:-0}" == 1 ]]; then
		pprof=127.0.0.1:$(free_port)
	fi
	mkdir -p "$WORK/$site"
	MINICLOUD_PPROF_ADDR=$pprof MINICLOUD_ROOT_ACCESS_KEY=$ACCESS MINICLOUD_ROOT_SECRET_KEY=$SECRET MINICLOUD_MESH_SECRET=$MESH_SECRET \
		"$WORK/bin/minicloud" serve --site "$site" --data "$WORK/$site" --s3 "$s3" --mesh "$mesh" --mqtt= \
		${join:+--join "$join"} --log-level warn >"$WORK/$site.log" 2>&1 &
	PID[$site]=$! S3[$site]=$s3
	if ! wait_serving "${PID[$site]}" "$s3"; then
		log "site $site did not start serving on $s3; its log:"
		tail -n 20 "$WORK/$site.log" >&2
		exit 1
	fi
	log "site $site: pid ${PID[$site]}, S3 $s3, mesh $mesh${pprof:+, pprof $pprof}"
	MESH_ADDR=$mesh
}

admin() {
	MINICLOUD_ENDPOINT=http://${S3[a]} MINICLOUD_ROOT_ACCESS_KEY=$ACCESS MINICLOUD_ROOT_SECRET_KEY=$SECRET \
		"$WORK/bin/minicloud" "$@"
}

# geoload NAME ARGS...: one run against site a; appends "NAME line" to $RESULTS.
geoload() {
	local name=$1 line rc=0 secs
	shift
	secs=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; print int(n) }')
	line=$(timeout --kill-after=10s $((secs + 120))s "$WORK/bin/geoload" -a "http://${S3[a]}" \
		-access "$ACCESS" -secret "$SECRET" -rate "$RATE" -size "$SIZE" -label "$name" "$@") || rc=$?
	echo "   ${line:-no result (exit $rc)}" >&2
	echo "$name ${line:-n/a}" >>"$RESULTS"
	if [[ $rc != 0 ]]; then
		FAILED=1
		local site
		for site in a b; do
			if ! kill -0 "${PID[$site]}" 2>/dev/null; then
				log "site $site has exited; its log:"
				tail -n 20 "$WORK/$site.log" >&2
				exit 1
			fi
		done
	fi
}

# cpu_ticks SITE prints the CPU time (user + system, clock ticks) the site's process has used.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/${PID[$1]}/stat"
}

# measured NAME ARGS...: geoload NAME ARGS, then wait for the outbox to drain, and record the CPU
# time each site's process spent on the run, outbox included, per PUT (line "NAME-cpu ...").
measured() {
	local name=$1 a0 b0 a1 b1 hz puts
	a0=$(cpu_ticks a) b0=$(cpu_ticks b)
	geoload "$@"
	if [[ "${B_STOPPED:-0}" == 1 ]]; then
		kill -CONT "${PID[b]}"
		wait_serving "${PID[b]}" "${S3[b]}" || log "site b did not answer after SIGCONT"
	fi
	wait_outbox
	a1=$(cpu_ticks a) b1=$(cpu_ticks b)
	hz=$(getconf CLK_TCK)
	puts=$(grep "^$name " "$RESULTS" | tail -n 1 | grep -o ' puts=[0-9]*' | cut -d= -f2)
	echo "$name-cpu $(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v hz="$hz" -v n="${puts:-0}" \
		'BEGIN { if (n > 0) printf "cpu_a_ms=%.3f cpu_b_ms=%.3f", a * 1000 / hz / n, b * 1000 / hz / n }')" >>"$RESULTS"
}

# wait_outbox: wait (at most 180 s) until site a has shipped everything to b, so that one run's
# backlog does not load the next run.
wait_outbox() {
	local n
	local out
	for _ in $(seq 360); do
		# A status that failed says nothing: ask again (no "site:b" in a status that
		# answered means an empty outbox).
		if ! out=$(admin status --json 2>/dev/null); then
			sleep 0.5
			continue
		fi
		# The status is indented JSON ("site:b": N): the pattern takes the space.
		n=$(grep -o '"site:b": *[0-9]*' <<<"$out" | grep -o '[0-9]*$' || true)
		if [[ -z "$n" || "$n" == 0 ]]; then
			return 0
		fi
		sleep 0.5
	done
	log "site a still has $n changes to ship to b after 180 s"
}

# field LINE KEY prints the value of KEY=value in a result line.
field() {
	awk -v k="$2" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) } }' <<<"$1"
}

# result NAME KEY [FORMAT] prints the median over the runs called NAME of one figure (n/a for
# none), by default with two decimals.
result() {
	local line v
	v=$(grep "^$1 " "$RESULTS" | while IFS= read -r line; do field "$line" "$2"; done |
		sort -g | awk -v f="${3:-%.2f}" '{ v[NR] = $1 } END { if (NR == 0) exit; m = int((NR + 1) / 2); printf f, NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2 }')
	echo "${v:-n/a}"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

describe() {
	local rev
	rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n "$(git -C "$REPO" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null)" ]]; then
		rev="$rev+uncommitted changes"
	fi
	echo "date:      $(date -u +%FT%TZ)"
	echo "machine:   $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "minicloud: $rev ($(go version | cut -d' ' -f3))"
	echo "settings:  RATE=$RATE SIZE=$SIZE DURATION=$DURATION ROUNDS=$ROUNDS POLL=$POLL"
}

report() {
	local on50 on99 off50 off99
	echo
	describe
	echo
	echo "replication lag a -> b (PUT acknowledged at a -> first listing at b showing the key):"
	printf '  p50 %s ms   p90 %s ms   p99 %s ms   max %s ms   (objects never seen at b: %s; listed before the ack returned: %s)\n' \
		"$(result lag lag_p50_ms)" "$(result lag lag_p90_ms)" "$(result lag lag_p99_ms)" "$(result lag lag_max_ms)" \
		"$(result lag unseen %d)" "$(result lag lag_early %d)"
	on50=$(result on put_p50_ms) on99=$(result on put_p99_ms) off50=$(result off put_p50_ms) off99=$(result off put_p99_ms)
	echo
	echo "PUT latency at a, $RATE/s of $SIZE (medians of $ROUNDS run(s) each):"
	printf '  %-34s %9s %9s %9s %9s\n' "" "p50 ms" "p99 ms" "PUT/s" "late"
	printf '  %-34s %9s %9s %9s %9s\n' "replication on (bucket on a,b)" "$on50" "$on99" "$(result on 'put_ops/s' %.1f)" "$(result on late %d)"
	printf '  %-34s %9s %9s %9s %9s\n' "replication off (bucket on a only)" "$off50" "$off99" "$(result off 'put_ops/s' %.1f)" "$(result off late %d)"
	printf '  %-34s %9s %9s\n' "ratio on/off" "$(ratio "$on50" "$off50")" "$(ratio "$on99" "$off99")"
	if [[ "${BSTOP:-0}" == 1 ]]; then
		printf '  %-34s %9s %9s %9s %9s\n' "on, site b stopped during the run" "$(result onstop put_p50_ms)" "$(result onstop put_p99_ms)" \
			"$(result onstop 'put_ops/s' %.1f)" "$(result onstop late %d)"
		printf '  %-34s %9s %9s\n' "ratio on (b stopped)/off" "$(ratio "$(result onstop put_p50_ms)" "$off50")" "$(ratio "$(result onstop put_p99_ms)" "$off99")"
	fi
	printf '  (during the lag run, with the lister at b: p50 %s ms, p99 %s ms)\n' "$(result lag put_p50_ms)" "$(result lag put_p99_ms)"
	echo
	echo "CPU time per PUT (user + system, ms; the run and its outbox drain; medians):"
	printf '  %-34s %9s %9s\n' "" "site a" "site b"
	printf '  %-34s %9s %9s\n' "replication on" "$(result on-cpu cpu_a_ms %.3f)" "$(result on-cpu cpu_b_ms %.3f)"
	printf '  %-34s %9s %9s\n' "replication off" "$(result off-cpu cpu_a_ms %.3f)" "$(result off-cpu cpu_b_ms %.3f)"
	if [[ "${BSTOP:-0}" == 1 ]]; then
		printf '  %-34s %9s %9s\n' "on, b stopped (drain after)" "$(result onstop-cpu cpu_a_ms %.3f)" "$(result onstop-cpu cpu_b_ms %.3f)"
	fi
	printf '  %-34s %9s\n' "ratio on/off at a" "$(ratio "$(result on-cpu cpu_a_ms %.3f)" "$(result off-cpu cpu_a_ms %.3f)")"
	echo "  (late: PUTs that started over 10 ms behind their schedule, out of $(result on puts %d) per run; many mean the"
	echo "   client could not keep the pace, and latencies are then not comparable)"
}

main() {
	build
	start_site a
	start_site b "$MESH_ADDR"
	admin bucket create geo --sites a,b >/dev/null
	admin bucket create solo --sites a >/dev/null
	admin bucket create lag --sites a,b >/dev/null
	: >"$RESULTS"
	log "warm-up: 3 s into each bucket (not reported)"
	geoload warmup-on -bucket geo -duration 3s -lag -b "http://${S3[b]}" -poll "$POLL"
	geoload warmup-off -bucket solo -duration 3s
	wait_outbox
	if [[ "${ONLY:-}" != latency ]]; then
		log "replication lag: $RATE PUT/s of $SIZE for $DURATION into lag at a, listing lag at b"
		geoload lag -bucket lag -duration "$DURATION" -lag -b "http://${S3[b]}" -poll "$POLL"
		wait_outbox
	fi
	local round
	for round in $(seq "$ROUNDS"); do
		[[ "${ONLY:-}" == lag ]] && break
		log "PUT latency, round $round of $ROUNDS"
		if ((round % 2 == 1)); then
			measured on -bucket geo -duration "$DURATION"
			measured off -bucket solo -duration "$DURATION"
		else
			measured off -bucket solo -duration "$DURATION"
			measured on -bucket geo -duration "$DURATION"
		fi
		if [[ "${BSTOP:-0}" == 1 ]]; then
			kill -STOP "${PID[b]}"
			B_STOPPED=1 measured onstop -bucket geo -duration "$DURATION"
		fi
	done
	report
	return "$FAILED"
}

main "$@"
