#!/bin/bash
# sendcost.sh LABEL MODE,CONC,WINDOW [ENV=VALUE...]
#
# One case of peerbench's lean client against a fresh `wharf standalone`,
# with what the broker spent on it: msgs/s and p50 from loadgen, broker
# CPU per message (/proc/PID/stat) and voluntary context switches per
# message (/proc/PID/task/*/status). Used for the A/B figures in
# BENCHMARKS.md (session 3); run each variant in turn, several times.
#
#   WHARF=/tmp/wharf LOADGEN=/tmp/loadgen CONF=sync.conf tools/scripts/sendcost.sh new sync,1,1
#
# LOADGEN is ../shared/peerbench's load generator (go build -o /tmp/loadgen ./cmd/loadgen there);
# CONF a broker.conf (e.g. flushDiskType=SYNC_FLUSH). Listens on 127.0.0.1:9876 and :10911.
set -u
label=$1; cs=$2; shift 2
WHARF=${WHARF:-/tmp/wharf}; LOADGEN=${LOADGEN:-/tmp/loadgen}; DATA=${DATA:-/tmp/wharf-sendcost}
rm -rf "$DATA"; mkdir -p "$DATA"
env "$@" "$WHARF" standalone --data "$DATA" ${CONF:+-c "$CONF"} >"$DATA.log" 2>&1 &
P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/10911) 2>/dev/null && break; sleep 0.1; done
sleep 1
IFS=, read -r m cc w <<<"$cs"
"$LOADGEN" -target rmqraw -mode "$m" -size 1024 -conc "$cc" -window "$w" -dur 2s >/dev/null 2>&1 # warm-up
ctx() { cat /proc/$P/task/*/status | awk '/^voluntary_ctxt_switches/{s+=$2} END{print s}'; }
c0=$(ctx); a=$(awk '{print $14+$15}' /proc/$P/stat)
out=$("$LOADGEN" -target rmqraw -mode "$m" -size 1024 -conc "$cc" -window "$w" -dur "${DUR:-3}s" 2>/dev/null)
c1=$(ctx); b=$(awk '{print $14+$15}' /proc/$P/stat)
n=$(jq .sent <<<"$out")
tck=$(getconf CLK_TCK)
echo "$label $cs: $(jq -r '"\(.msgs_per_s|floor) msg/s p50 \(.lat_p50_us|floor)us"' <<<"$out")" \
  "ctx/msg $(awk -v d=$((c1 - c0)) -v n="$n" 'BEGIN{printf "%.2f", d/n}')" \
  "cpu/msg $(awk -v t=$((b - a)) -v n="$n" -v k="$tck" 'BEGIN{printf "%.1fus", t*1e6/k/n}')"
