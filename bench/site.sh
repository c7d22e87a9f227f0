#!/usr/bin/env bash
# bench/site.sh: a 3-node minicloud site (RF=3, W=2, R=2) against a single
# minicloud node and against MinIO, same disk, same client (bench/loadgen),
# then what a SIGKILL of one site node costs the clients and how fast the node
# catches up when it returns.
#
# All three run on this machine: every byte a site PUT stores is written (and
# fsynced) three times on the one disk, so the physical limit for site PUT is
# about 1/3 of the single node. Goals (issue 3): site PUT 4KiB >= 0.3x and GET
# 4KiB >= 0.8x the single node's ops/s.
#
# The site is driven the way a site is used: CONC clients spread over its three
# nodes (three loadgen processes, concurrency CONC split between them; ops/s
# summed, p99 the worst of the three).
#
# Environment (all optional):
#   QUICK=1          short run: 5s per workload, small object counts
#   ROUNDS=1         rounds of the throughput table (every workload on every target each round,
#                    rotating which target goes first); the table shows medians over rounds and
#                    each round's site/single ratio
#   CONC=8           concurrent operations of every timed phase (per target)
#   DURATION=30s     timed phase of each workload (QUICK: 5s)
#   OBJECTS=2500     objects prepared for GET 4KiB and MIXED (QUICK: 500)
#   LIST_OBJECTS=20000  objects prepared for LIST (QUICK: 2000)
#   OUTAGE=20s       how long the killed node stays down under PUT load (QUICK: 8s)
#   BENCH_DIR=/tmp   where the temp dir with every data dir goes (same disk)
#   KEEP=1           keep the temp dir (data, logs, raw results) afterwards
#   ONLY=failover    run only the failover part (ONLY=throughput: only the table)
#   ONLY_WORKLOADS=put4k,get4k  run only these workloads (put4k get4k mixed4k list)
#   PROFILE_DIR=DIR  write CPU profiles (go tool pprof) of n1 and the single node during each
#                    timed workload to DIR (the nodes serve pprof on loopback for this)
#
# Exit status: 0 when every run finished without client errors (on the site,
# clients of the surviving nodes during the outage included); 1 otherwise.
set -euo pipefail
unset AWS_CA_BUNDLE # may point at a bundle that does not apply here

cd "$(dirname "$0")/.."
REPO=$PWD

if [[ "${QUICK:-0}" == 1 ]]; then
	DURATION=${DURATION:-5s} OBJECTS=${OBJECTS:-500} LIST_OBJECTS=${LIST_OBJECTS:-2000} OUTAGE=${OUTAGE:-8s}
else
	DURATION=${DURATION:-30s} OBJECTS=${OBJECTS:-2500} LIST_OBJECTS=${LIST_OBJECTS:-20000} OUTAGE=${OUTAGE:-20s}
fi
CONC=${CONC:-8}
ROUNDS=${ROUNDS:-1}
ROUND=1
CACHE_BIN=$HOME/.cache/minicloud-bench/bin
ACCESS=benchadmin
SECRET=bench-$RANDOM$RANDOM$RANDOM
MESH_SECRET=bench-mesh-$RANDOM$RANDOM$RANDOM$RANDOM

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/minicloud-site-bench.XXXXXX")
RESULTS=$WORK/results.txt
FAILED=0
PIDS=()
declare -A S3 MESH PID PPROF

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ "${KEEP:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a port nothing listens on and that no earlier call returned (ports are picked
# before the servers that will listen on them start). It runs in a subshell: the ports handed
# out are remembered in a file.
free_port() {
	local p
	# Below Linux's ephemeral range (32768-60999): a port some outgoing connection uses locally
	# looks free to a connect test but cannot be bound.
	for p in $(shuf -i 20000-32000 -n 50); do
		if ! grep -qx "$p" "$WORK/ports" 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p" >>"$WORK/ports"
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

wait_serving() { # PID ADDR
	local code
	for _ in $(seq 600); do
		kill -0 "$1" 2>/dev/null || return 1
		code=$(curl -s --noproxy '*' -m 2 -o /dev/null -w '%{http_code}' "http://$2/" || true)
		[[ "$code" != 000 && "$code" != 503 ]] && return 0
		sleep 0.1
	done
	return 1
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

mc() { # minicloud admin command against node N
	local n=$1
	shift
	MINICLOUD_ROOT_ACCESS_KEY=$ACCESS MINICLOUD_ROOT_SECRET_KEY=$SECRET "$WORK/bin/minicloud" "$@" --endpoint "http://${S3[$n]}"
}

# start NAME [serve args...]: start (or restart) a minicloud on its data dir.
start() {
	local n=$1
	shift
	mkdir -p "$WORK/$n"
	[[ -n "${S3[$n]:-}" ]] || S3[$n]=127.0.0.1:$(free_port)
	[[ -z "${PROFILE_DIR:-}" || -n "${PPROF[$n]:-}" ]] || PPROF[$n]=127.0.0.1:$(free_port)
	MINICLOUD_PPROF_ADDR=${PPROF[$n]:-} MINICLOUD_ROOT_ACCESS_KEY=$ACCESS MINICLOUD_ROOT_SECRET_KEY=$SECRET MINICLOUD_MESH_SECRET=$MESH_SECRET \
		"$WORK/bin/minicloud" serve --data "$WORK/$n" --s3 "${S3[$n]}" --log-level warn --mqtt= "$@" >>"$WORK/$n.log" 2>&1 &
	PID[$n]=$! PIDS+=($!)
	wait_serving "${PID[$n]}" "${S3[$n]}" || { tail -n 20 "$WORK/$n.log" >&2; echo "$n did not start" >&2; exit 1; }
}

site_args() { # NODE: the serve arguments of a site node
	echo "--mesh ${MESH[$1]} --node-id $1 --replicas 3 --write-quorum 2 --read-quorum 2 ${2:-}"
}

start_site() {
	local n
	for n in n1 n2 n3; do MESH[$n]=127.0.0.1:$(free_port); done
	# shellcheck disable=SC2046
	start n1 $(site_args n1)
	for n in n2 n3; do
		# shellcheck disable=SC2046
		start "$n" $(site_args "$n" "--join ${MESH[n1]}")
	done
	wait_alive 3 n1 n2 n3
	log "site n1 n2 n3 serving on ${S3[n1]} ${S3[n2]} ${S3[n3]}"
}

# wait_alive COUNT NODES...: until each node sees COUNT nodes alive (60 s).
wait_alive() {
	local want=$1 n ok
	shift
	for _ in $(seq 300); do
		ok=1
		for n in "$@"; do
			[[ $(mc "$n" status --json 2>/dev/null | jq '[.nodes[] | select(.state == "alive")] | length') == "$want" ]] || ok=0
		done
		[[ $ok == 1 ]] && return 0
		sleep 0.2
	done
	echo "the site did not see $want nodes alive" >&2
	exit 1
}

field() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) } }' <<<"$1"; }

# errors_of LINE: a loadgen result's error count; a missing result counts as one.
errors_of() { if [[ -n "$1" ]]; then field "$1" errors; else echo 1; fi; }

# loadgen_on ENDPOINT CONC ARGS...: one loadgen process.
loadgen_on() {
	local ep=$1 c=$2
	shift 2
	timeout --kill-after=10s 3600s "$WORK/bin/loadgen" -endpoint "http://$ep" -access "$ACCESS" -secret "$SECRET" \
		-concurrency "$c" -duration "$DURATION" "$@"
}

# profile NODE NAME ERRFILE ARGS...: in the background, a CPU profile of NODE over most of the
# timed phase (after loadgen's "prepared" line in ERRFILE when the workload prepares objects).
profile() {
	[[ -n "${PROFILE_DIR:-}" && -n "${PPROF[$1]:-}" ]] || return 0
	mkdir -p "$PROFILE_DIR"
	local node=$1 name=$2 errf=$3 secs prep=0
	shift 3
	[[ " $* " == *" -objects "* ]] && prep=1
	secs=$(awk -v d="${DURATION%s}" 'BEGIN { s = int(d) - 2; print (s < 1 ? 1 : s) }')
	(
		for _ in $(seq 3000); do [[ $prep == 0 ]] || grep -qs prepared "$errf" && break; sleep 0.2; done
		sleep 1
		curl -s --noproxy '*' -o "$PROFILE_DIR/$name-$node.pprof" "http://${PPROF[$node]}/debug/pprof/profile?seconds=$secs"
	) &
}

# run TARGET NAME ARGS...: one workload on a target; appends "NAME TARGET ops p99 errors".
run() {
	local target=$1 name=$2 line ops p99 errs i n c
	shift 2
	log "$name on $target"
	if [[ $target == single ]]; then
		profile single "$name" "$WORK/single-$name.err" "$@"
	elif [[ $target == site ]]; then
		profile n1 "$name" "$WORK/site-$name-n1.err" "$@"
	fi
	if [[ $target != site ]]; then
		local ep=${S3[single]:-}
		[[ $target == MinIO ]] && ep=$MINIO
		line=$(loadgen_on "$ep" "$CONC" -bucket "$name" "$@" 2>"$WORK/$target-$name.err" || true)
		sed 's/^/   /' "$WORK/$target-$name.err" >&2
		echo "   $line" >&2
		echo "$name $target $(field "$line" ops/s) $(field "$line" p99_ms) $(field "$line" errors) $ROUND" >>"$RESULTS"
		[[ "$(field "$line" errors)" == 0 ]] || FAILED=1
		return
	fi
	# The site: CONC split over its three nodes, run at the same time.
	mc n1 bucket create "$name" >/dev/null 2>&1 || true
	local jobs=()
	for i in 0 1 2; do
		n=n$((i + 1)) c=$((CONC / 3 + (i < CONC % 3 ? 1 : 0)))
		loadgen_on "${S3[$n]}" "$c" -bucket "$name" "$@" >"$WORK/site-$name-$n.out" 2>"$WORK/site-$name-$n.err" &
		jobs+=($!)
	done
	wait "${jobs[@]}" || true
	ops=0 p99=0 errs=0
	for n in n1 n2 n3; do
		line=$(cat "$WORK/site-$name-$n.out")
		echo "   $n: ${line:-no result: $(tail -n 3 "$WORK/site-$name-$n.err")}" >&2
		ops=$(awk -v a="$ops" -v b="$(field "$line" ops/s)" 'BEGIN { print a + b }')
		p99=$(awk -v a="$p99" -v b="$(field "$line" p99_ms)" 'BEGIN { print (b > a ? b : a) }')
		errs=$((errs + $(errors_of "$line")))
	done
	echo "$name site $ops $p99 $errs $ROUND" >>"$RESULTS"
	[[ $errs == 0 ]] || FAILED=1
}

WORKLOADS=(
	"put4k|PUT 4KiB|-workload put -size 4KiB"
	"get4k|GET 4KiB|-workload get -size 4KiB -objects $OBJECTS"
	"mixed4k|MIXED 4KiB|-workload mixed -size 4KiB -objects $OBJECTS"
	"list|LIST $LIST_OBJECTS|-workload list -size 1KiB -objects $LIST_OBJECTS"
)

throughput() {
	local w name i=0 t
	for ROUND in $(seq "$ROUNDS"); do
		log "round $ROUND of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
		for w in "${WORKLOADS[@]}"; do
			IFS='|' read -r name _ args <<<"$w"
			selected "$name" || continue
			# Rotate which target goes first, so that machine noise hits all alike.
			local order=(single site MinIO)
			for t in "${order[@]:$((i % 3))}" "${order[@]:0:$((i % 3))}"; do
				# shellcheck disable=SC2086
				run "$t" "$name" $args
			done
			i=$((i + 1))
		done
		i=$((i + 1))
	done
}

selected() { [[ -z "${ONLY_WORKLOADS:-}" || ",$ONLY_WORKLOADS," == *",$1,"* ]]; }

# get NAME TARGET COLUMN [ROUND]: one round's value, or the median over rounds.
get() {
	awk -v n="$1" -v t="$2" -v c="$3" -v r="${4:-}" '$1 == n && $2 == t && (r == "" || $6 == r) { print $c }' "$RESULTS" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

print_table() {
	local w name label s1 st mn r rounds
	printf '\n%-12s %10s %10s %10s %12s %11s %15s  %s\n' workload single site MinIO site/single site/MinIO "p99ms site/1" "site/single per round"
	for w in "${WORKLOADS[@]}"; do
		IFS='|' read -r name label _ <<<"$w"
		selected "$name" || continue
		s1=$(get "$name" single 3) st=$(get "$name" site 3) mn=$(get "$name" MinIO 3)
		rounds=""
		for r in $(seq "$ROUNDS"); do rounds="$rounds $(ratio "$(get "$name" site 3 "$r")" "$(get "$name" single 3 "$r")")"; done
		printf '%-12s %10.1f %10.1f %10.1f %12s %11s %15s %s\n' "$label" "${s1:-0}" "${st:-0}" "${mn:-0}" \
			"$(ratio "$st" "$s1")" "$(ratio "$st" "$mn")" "$(get "$name" site 4)/$(get "$name" single 4)" "$rounds"
	done
	echo "(ops/s and p99 are medians over $ROUNDS round(s); LIST in listings/s of the whole bucket;"
	echo " goals: site/single >= 0.30 for PUT 4KiB, >= 0.80 for GET 4KiB)"
}

# s3put NODE KEY: one signed 4 KiB PUT with curl; prints the HTTP status.
s3put() {
	curl -s --noproxy '*' -m 5 -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS:$SECRET" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT --data-binary @"$WORK/4k" "http://${S3[$1]}/failover/$2" || echo 000
}

# failover: PUT load on n1 and n2 (loadgen) plus a probe (one curl PUT after
# another through n1, timestamped); SIGKILL n3; keep going for OUTAGE; restart
# n3 and time its catch-up.
failover() {
	local t_kill t_detect="" t_first="" t_first_ack="" t_restart t_caught code i=0 probe_err=0 line errs=0 n before after
	local slowest=0
	head -c 4096 /dev/urandom >"$WORK/4k"
	mc n1 bucket create failover >/dev/null
	sleep 1 # the bucket reaches n2 and n3 by gossip
	log "failover: PUT load on n1 and n2 for $OUTAGE + 4s; SIGKILL n3 after 2s"
	local jobs=()
	for n in n1 n2; do
		DURATION=$(awk -v d="${OUTAGE%s}" 'BEGIN { print d + 4 "s" }') loadgen_on "${S3[$n]}" $((CONC / 2)) \
			-workload put -size 4KiB -bucket failover >"$WORK/fail-$n.out" 2>"$WORK/fail-$n.err" &
		jobs+=($!)
	done
	sleep 2
	t_kill=$(now)
	kill -9 "${PID[n3]}"
	local until_t
	until_t=$(awk -v a="$t_kill" -v d="${OUTAGE%s}" 'BEGIN { printf "%.3f", a + d }')
	while awk -v a="$(now)" -v b="$until_t" 'BEGIN { exit !(a < b) }'; do
		local t0
		t0=$(now)
		code=$(s3put n1 "probe-$i")
		local t1
		t1=$(now)
		i=$((i + 1))
		slowest=$(awk -v s="$slowest" -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; print (d > s ? d : s) }')
		if [[ $code == 200 ]]; then
			[[ -n $t_first ]] || { t_first=$t0; t_first_ack=$t1; }
		else
			probe_err=$((probe_err + 1))
		fi
		if [[ -z $t_detect ]] && [[ $(mc n1 status --json 2>/dev/null | jq -r '.nodes[] | select(.id == "n3") | .state') == down ]]; then
			t_detect=$(now)
		fi
	done
	wait "${jobs[@]}" || true
	for n in n1 n2; do
		line=$(cat "$WORK/fail-$n.out")
		echo "   clients of $n: ${line:-no result}" >&2
		errs=$((errs + $(errors_of "$line")))
	done
	before=$(for n in n1 n2; do mc "$n" status --json | jq '[.hintsPending[]] | add // 0'; done | awk '{ s += $1 } END { print s }')
	local delivered0
	delivered0=$(for n in n1 n2; do mc "$n" status --json | jq '.repair.hintsDelivered'; done | awk '{ s += $1 } END { print s }')
	t_restart=$(now)
	# shellcheck disable=SC2046
	start n3 $(site_args n3 "--join ${MESH[n1]}")
	local t_deliver="" sofar
	for _ in $(seq 600); do
		after=0
		for n in n1 n2 n3; do
			after=$((after + $(mc "$n" status --json | jq '[.hintsPending[]] | add // 0')))
		done
		if [[ -z $t_deliver ]]; then
			sofar=$(for n in n1 n2; do mc "$n" status --json | jq '.repair.hintsDelivered'; done | awk '{ s += $1 } END { print s }')
			[[ $sofar -gt $delivered0 ]] && t_deliver=$(now)
		fi
		[[ $after == 0 ]] && break
		sleep 0.1
	done
	t_caught=$(now)
	t_deliver=${t_deliver:-$t_caught}
	local delivered
	delivered=$(for n in n1 n2; do mc "$n" status --json | jq '.repair.hintsDelivered'; done | awk -v d="$delivered0" '{ s += $1 } END { print s - d }')
	[[ $errs == 0 && $probe_err == 0 ]] || FAILED=1
	echo
	echo "failover (SIGKILL of n3 under PUT 4KiB load on n1 and n2, CONC=$CONC):"
	echo "  client errors on n1 and n2 during the outage: loadgen $errs, probe $probe_err of $i PUTs"
	echo "  SIGKILL -> first PUT acknowledged that started after it: $(secs "$t_kill" "${t_first:-$t_kill}") s (its acknowledgement: $(secs "$t_kill" "${t_first_ack:-$t_kill}") s after the SIGKILL)"
	echo "  slowest probe PUT during the outage: $(awk -v d="$slowest" 'BEGIN { printf "%.3f", d }') s (writes to a killed node's partitions wait for its read leases to end)"
	echo "  SIGKILL -> gossip marks n3 down: $( [[ -n $t_detect ]] && secs "$t_kill" "$t_detect" || echo "not within $OUTAGE") s"
	echo "  hints pending for n3 when it restarts (on n1 and n2): $before"
	echo "  restart -> no hint pending anywhere: $(secs "$t_restart" "$t_caught") s (includes process start), $delivered hints delivered: $(awk -v n="$delivered" -v a="$t_restart" -v b="$t_caught" 'BEGIN { printf "%.0f", n / (b - a) }') records/s"
	echo "  restart -> first hint delivered: $(secs "$t_restart" "$t_deliver") s (process start, gossip sees n3 alive); from then to none pending: $(secs "$t_deliver" "$t_caught") s: $(awk -v n="$delivered" -v a="$t_deliver" -v b="$t_caught" 'BEGIN { if (b - a > 0.05) printf "%.0f", n / (b - a); else print "n/a (within one 0.1 s poll)" }') records/s"
}

describe() {
	local rev
	rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -z "$(git -C "$REPO" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null)" ]] || rev="$rev+uncommitted changes"
	echo "date:      $(date -u +%FT%TZ)"
	echo "machine:   $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
	echo "disk:      $(df -h --output=source,fstype "$WORK" | tail -n 1 | tr -s ' ')"
	echo "minicloud: $rev ($(go version | cut -d' ' -f3))"
	echo "MinIO:     $("$CACHE_BIN/minio" --version 2>/dev/null | head -n 1)"
	echo "settings:  CONC=$CONC DURATION=$DURATION OBJECTS=$OBJECTS LIST_OBJECTS=$LIST_OBJECTS OUTAGE=$OUTAGE ROUNDS=$ROUNDS"
	echo "load avg:  $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (2 CPUs; other work on the machine)"
}

main() {
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	if [[ ! -x $CACHE_BIN/minio ]]; then
		log "installing MinIO into $CACHE_BIN (takes minutes the first time)"
		mkdir -p "$CACHE_BIN"
		(cd / && GOBIN=$CACHE_BIN GOFLAGS= go install github.com/minio/minio@latest)
	fi
	mkdir -p "$WORK/bin"
	go build -o "$WORK/bin/loadgen" ./bench/loadgen
	go build -o "$WORK/bin/minicloud" ./cmd/minicloud
	if [[ ${ONLY:-} != failover ]]; then
		local mport cport
		mport=$(free_port) cport=$(free_port)
		mkdir -p "$WORK/minio"
		MINIO_ROOT_USER=$ACCESS MINIO_ROOT_PASSWORD=$SECRET "$CACHE_BIN/minio" server "$WORK/minio" \
			--address "127.0.0.1:$mport" --console-address "127.0.0.1:$cport" >"$WORK/minio.log" 2>&1 &
		PIDS+=($!)
		MINIO=127.0.0.1:$mport
		wait_serving $! "$MINIO" || { tail -n 20 "$WORK/minio.log" >&2; exit 1; }
		start single
	fi
	start_site
	: >"$RESULTS"
	[[ ${ONLY:-} == failover ]] || throughput
	# The single node and MinIO are done: let the failover have the machine.
	[[ ${ONLY:-} == failover ]] || kill "${PID[single]}" "${PIDS[0]}" 2>/dev/null || true
	[[ ${ONLY:-} == throughput ]] || failover
	echo
	describe
	[[ ${ONLY:-} == failover ]] || print_table
	return "$FAILED"
}

main "$@"
