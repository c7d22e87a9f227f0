#!/usr/bin/env bash
# bench/s3.sh: minicloud against MinIO, single node, same disk, same client.
#
# Builds ./cmd/minicloud and bench/loadgen, installs MinIO once into
# ~/.cache/minicloud-bench/bin, starts both servers on loopback with data dirs
# under one temp dir, runs the same loadgen workloads against each (targets
# alternate from one workload to the next, so that machine noise hits both
# alike) and prints a comparison table and both servers' peak RSS.
#
# Environment (all optional):
#   QUICK=1          short run: 5s per workload, small object counts
#   CONC=8           concurrent operations of every timed phase
#   ROUNDS=1         repeat every workload; the table shows medians
#   DURATION=30s     timed phase of each workload (QUICK: 5s)
#   OBJECTS=2500     objects prepared for GET 4KiB and mixed (QUICK: 500)
#   BIG_OBJECTS=32   objects prepared for GET 64MiB (QUICK: 4)
#   LIST_OBJECTS=100000  objects prepared for LIST (QUICK: 5000)
#   BENCH_DIR=/tmp   where the temp dir with both data dirs goes (same disk)
#   KEEP=1           keep the temp dir (data, logs, raw results) afterwards
#   MINICLOUD_BIN    use this minicloud binary instead of building ./cmd/minicloud
#   MINICLOUD_EXTRA_ARGS  more arguments for `minicloud serve`
#
# Exit status: 0 when every run on both servers finished without errors;
# 1 otherwise (minicloud not building or not serving counts as a failure,
# but MinIO's side still runs and is reported).
set -euo pipefail
unset AWS_CA_BUNDLE # may point at a bundle that does not apply here

cd "$(dirname "$0")/.."
REPO=$PWD

if [[ "${QUICK:-0}" == 1 ]]; then
	DURATION=${DURATION:-5s} OBJECTS=${OBJECTS:-500}
	BIG_OBJECTS=${BIG_OBJECTS:-4} LIST_OBJECTS=${LIST_OBJECTS:-5000}
else
	DURATION=${DURATION:-30s} OBJECTS=${OBJECTS:-2500}
	BIG_OBJECTS=${BIG_OBJECTS:-32} LIST_OBJECTS=${LIST_OBJECTS:-100000}
fi
CONC=${CONC:-8}
ROUNDS=${ROUNDS:-1}
CACHE_BIN=$HOME/.cache/minicloud-bench/bin
ACCESS=benchadmin
SECRET=bench-$RANDOM$RANDOM$RANDOM

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/minicloud-bench.XXXXXX")
RESULTS=$WORK/results.txt
MINIO_PID='' MC_PID='' MC_OK=1 FAILED=0
declare -A ENDPOINT PID_OF

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
	local pid
	for pid in "$MC_PID" "$MINIO_PID"; do
		[[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
	done
	for pid in "$MC_PID" "$MINIO_PID"; do
		[[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
	done
	if [[ "${KEEP:-0}" == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_minio() {
	if [[ -x $CACHE_BIN/minio ]]; then
		return
	fi
	log "installing MinIO into $CACHE_BIN (takes minutes the first time)"
	mkdir -p "$CACHE_BIN"
	(cd / && GOBIN=$CACHE_BIN GOFLAGS= go install github.com/minio/minio@latest)
}

# build puts minicloud and loadgen into $WORK/bin; minicloud may fail to build.
build() {
	mkdir -p "$WORK/bin"
	go build -o "$WORK/bin/loadgen" ./bench/loadgen
	if [[ -n "${MINICLOUD_BIN:-}" ]]; then
		ln -s "$(realpath "$MINICLOUD_BIN")" "$WORK/bin/minicloud"
	elif ! go build -o "$WORK/bin/minicloud" ./cmd/minicloud 2>"$WORK/minicloud-build.log"; then
		log "minicloud does not build; see below. MinIO's side runs alone."
		tail -n 20 "$WORK/minicloud-build.log" >&2
		MC_OK=0
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

# wait_serving PID ADDR: wait until ADDR answers HTTP (any status but 503,
# which MinIO sends while it initialises), for at most 60s.
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

start_minio() {
	local port cport
	port=$(free_port) cport=$(free_port)
	mkdir -p "$WORK/minio"
	MINIO_ROOT_USER=$ACCESS MINIO_ROOT_PASSWORD=$SECRET \
		"$CACHE_BIN/minio" server "$WORK/minio" --address "127.0.0.1:$port" \
		--console-address "127.0.0.1:$cport" >"$WORK/minio.log" 2>&1 &
	MINIO_PID=$!
	ENDPOINT[MinIO]=127.0.0.1:$port PID_OF[MinIO]=$MINIO_PID
	if ! wait_serving "$MINIO_PID" "127.0.0.1:$port"; then
		tail -n 20 "$WORK/minio.log" >&2
		echo "MinIO did not start" >&2
		exit 1
	fi
	log "MinIO $("$CACHE_BIN/minio" --version 2>/dev/null | head -n 1) serving on 127.0.0.1:$port, pid $MINIO_PID"
}

start_minicloud() {
	[[ $MC_OK == 1 ]] || return 0
	local port
	port=$(free_port)
	mkdir -p "$WORK/minicloud"
	# shellcheck disable=SC2086 # MINICLOUD_EXTRA_ARGS is a list of words
	MINICLOUD_ROOT_ACCESS_KEY=$ACCESS MINICLOUD_ROOT_SECRET_KEY=$SECRET \
		"$WORK/bin/minicloud" serve --data "$WORK/minicloud" --s3 "127.0.0.1:$port" --mqtt= \
		${MINICLOUD_EXTRA_ARGS:-} >"$WORK/minicloud.log" 2>&1 &
	MC_PID=$!
	ENDPOINT[minicloud]=127.0.0.1:$port PID_OF[minicloud]=$MC_PID
	if ! wait_serving "$MC_PID" "127.0.0.1:$port"; then
		log "minicloud did not start serving S3 on 127.0.0.1:$port; its log:"
		tail -n 20 "$WORK/minicloud.log" >&2
		kill "$MC_PID" 2>/dev/null || true
		MC_OK=0
		return 0
	fi
	log "minicloud serving on 127.0.0.1:$port, pid $MC_PID"
}

# field LINE KEY prints the value of KEY=value in a loadgen result line.
field() {
	awk -v k="$2" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) } }' <<<"$1"
}

# run_one ROUND NAME TARGET ARGS...: one loadgen run; appends
# "NAME TARGET ROUND line" to $RESULTS.
run_one() {
	local round=$1 name=$2 target=$3 line rc=0
	shift 3
	if [[ $target == minicloud && $MC_OK != 1 ]]; then
		echo "$name $target $round n/a" >>"$RESULTS"
		return
	fi
	log "$name on $target (round $round of $ROUNDS)"
	line=$(timeout --kill-after=10s 3600s "$WORK/bin/loadgen" -endpoint "http://${ENDPOINT[$target]}" \
		-access "$ACCESS" -secret "$SECRET" -concurrency "$CONC" -duration "$DURATION" \
		-bucket "$name" "$@") || rc=$?
	echo "   ${line:-no result (exit $rc)}" >&2
	echo "$name $target $round ${line:-n/a}" >>"$RESULTS"
	if [[ $rc != 0 ]]; then
		FAILED=1
		if ! kill -0 "${PID_OF[$target]}" 2>/dev/null; then
			log "$target has exited; its log:"
			tail -n 20 "$WORK/$(tr '[:upper:]' '[:lower:]' <<<"$target").log" >&2
			[[ $target == minicloud ]] && MC_OK=0
		fi
	fi
}

# WORKLOADS: bucket, label, metric key, loadgen arguments.
WORKLOADS=(
	"put4k|PUT 4KiB|ops/s|-workload put -size 4KiB"
	"get4k|GET 4KiB|ops/s|-workload get -size 4KiB -objects $OBJECTS"
	"get64m|GET 64MiB|MiB/s|-workload get -size 64MiB -objects $BIG_OBJECTS"
	"mixed4k|MIXED 4KiB|ops/s|-workload mixed -size 4KiB -objects $OBJECTS"
	"list|LIST $LIST_OBJECTS|objects/s|-workload list -size 1KiB -objects $LIST_OBJECTS"
)

# run_all runs every workload on both targets, ROUNDS times. Which target
# goes first alternates from one workload (and round) to the next.
run_all() {
	local round i w name args first second
	for round in $(seq "$ROUNDS"); do
		i=$round
		for w in "${WORKLOADS[@]}"; do
			IFS='|' read -r name _ _ args <<<"$w"
			first=minicloud second=MinIO
			if ((i % 2 == 0)); then first=MinIO second=minicloud; fi
			# shellcheck disable=SC2086 # args is a list of words
			run_one "$round" "$name" "$first" $args
			# shellcheck disable=SC2086
			run_one "$round" "$name" "$second" $args
			i=$((i + 1))
		done
	done
}

# result NAME TARGET KEY FORMAT prints the median over rounds of one figure,
# or n/a; a trailing '!' says that some round had errors.
result() {
	local lines line v errs=0
	lines=$(awk -v n="$1" -v t="$2" '$1 == n && $2 == t { $1 = $2 = $3 = ""; print }' "$RESULTS")
	v=$(while IFS= read -r line; do field "$line" "$3"; done <<<"$lines" | median "$4")
	while IFS= read -r line; do
		if [[ -n "$line" && $(field "$line" errors) != 0 ]]; then errs=1; fi
	done <<<"$lines"
	if [[ -n "$v" && $errs == 1 ]]; then v="$v!"; fi
	echo "${v:-n/a}"
}

# median FORMAT prints the median of the numbers on stdin (nothing for none).
median() {
	sort -g | awk -v f="$1" '{ v[NR] = $1 } END { if (NR == 0) exit; m = int((NR + 1) / 2); printf f, NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

print_table() {
	local w name label key mc mn
	printf '\n%-13s %-10s %12s %12s %8s %13s %11s\n' workload metric minicloud MinIO ratio "p99ms mcloud" "p99ms MinIO"
	for w in "${WORKLOADS[@]}"; do
		IFS='|' read -r name label key _ <<<"$w"
		mc=$(result "$name" minicloud "$key" %.1f) mn=$(result "$name" MinIO "$key" %.1f)
		printf '%-13s %-10s %12s %12s %8s %13s %11s\n' "$label" "$key" "$mc" "$mn" \
			"$(ratio "${mc%!}" "${mn%!}")" "$(result "$name" minicloud p99_ms %.2f)" "$(result "$name" MinIO p99_ms %.2f)"
	done
	echo "(medians of $ROUNDS round(s); ratio = minicloud / MinIO, above 1 favours minicloud; '!' = some run had errors)"
}

# peak_rss NAME PID prints the process's VmHWM, or why there is none.
peak_rss() {
	local hwm
	hwm=$(awk '/^VmHWM:/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$2/status" 2>/dev/null || true)
	echo "peak RSS (VmHWM) $1: ${hwm:-n/a (not running)}"
}

# describe prints what was measured, on what.
describe() {
	local rev
	rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n "$(git -C "$REPO" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null)" ]]; then
		rev="$rev+uncommitted changes"
	fi
	echo "date:      $(date -u +%FT%TZ)"
	echo "machine:   $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
	echo "disk:      $(df -h --output=source,fstype "$WORK" | tail -n 1 | tr -s ' ')"
	echo "minicloud: $rev ($(go version | cut -d' ' -f3))"
	echo "MinIO:     $("$CACHE_BIN/minio" --version 2>/dev/null | head -n 1)"
	echo "settings:  ROUNDS=$ROUNDS CONC=$CONC DURATION=$DURATION OBJECTS=$OBJECTS BIG_OBJECTS=$BIG_OBJECTS LIST_OBJECTS=$LIST_OBJECTS"
}

main() {
	install_minio
	build
	start_minio
	start_minicloud
	log "rounds $ROUNDS, concurrency $CONC, duration $DURATION, objects $OBJECTS, 64MiB objects $BIG_OBJECTS, list objects $LIST_OBJECTS; data in $WORK"
	: >"$RESULTS"
	run_all
	echo
	describe
	print_table
	peak_rss minicloud "${MC_PID:-0}"
	peak_rss MinIO "$MINIO_PID"
	if [[ $MC_OK != 1 ]]; then
		echo "minicloud: not (fully) measured: it did not build, start or keep serving; see messages above" >&2
		FAILED=1
	fi
	return "$FAILED"
}

main "$@"
