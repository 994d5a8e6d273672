#!/usr/bin/env bash
# Checks the command line as a user meets it: exit codes, error messages that
# name the key and the reason, and deterministic replay of the shipped samples.
# usage: cli_test.sh CXSTREAM SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi
}

# validate-config: the shipped file is valid; a bad one lists every error.
"$bin" validate-config --config "$src/config/cxstream.yaml" > "$work/ok.txt" 2>&1
check "shipped config validates" test $? -eq 0
cat > "$work/bad.yaml" <<'YAML'
limits:
  max_id_bytes: 2
commit:
  interval: soon
kafka:
  bootstrap: x
YAML
"$bin" validate-config --config "$work/bad.yaml" > "$work/bad.txt" 2>&1
rc=$?
check "bad config exits non-zero" test $rc -ne 0
check "error names limits.max_id_bytes" grep -q "config error: limits.max_id_bytes: value 2 is out of range" "$work/bad.txt"
check "error names commit.interval" grep -q "config error: commit.interval: expected a duration" "$work/bad.txt"
check "error names the unknown key" grep -q "config error: kafka.bootstrap: unknown key" "$work/bad.txt"
check "all three errors reported" grep -q "3 configuration error(s)" "$work/bad.txt"
"$bin" validate-config --config "$work/missing.yaml" > "$work/missing.txt" 2>&1
check "missing config file is an error" test $? -ne 0
check "missing config names the file" grep -q "cannot read configuration file" "$work/missing.txt"

# replay refuses unusable arguments, never bad records.
"$bin" replay --input "$work/nope.ndjson" --out "$work/o" > /dev/null 2>&1
check "unreadable input exits non-zero" test $? -ne 0
"$bin" replay --config "$work/bad.yaml" --input "$src/samples/all_types.ndjson" --out "$work/o" > /dev/null 2>&1
check "bad config stops replay" test $? -ne 0
"$bin" replay --input "$src/samples/all_types.ndjson" --until 2026-13-01 --out "$work/o" > /dev/null 2>&1
check "bad --until exits non-zero" test $? -ne 0

# Every example of the contract is accepted.
# The examples span days: --until says when they were captured, so none is
# "in the future".
"$bin" replay --input "$src/samples/all_types.ndjson" --until 2026-11-26T00:00:00Z --out "$work/types" 2> "$work/types.txt"
check "all_types replays" test $? -eq 0
check "all_types has no dead letters" test ! -s "$work/types/dlq.ndjson"

# Every example in docs/events.md is accepted.
grep '^{"event_id"' "$src/docs/events.md" > "$work/doc_examples.ndjson"
check "docs/events.md has an example per type" test "$(wc -l < "$work/doc_examples.ndjson")" -eq 24
"$bin" replay --input "$work/doc_examples.ndjson" --until 2026-11-26T00:00:00Z --out "$work/docs" 2> /dev/null
check "docs/events.md examples have no dead letters" test ! -s "$work/docs/dlq.ndjson"

# Byte-identical outputs on two replays of the same input.
for s in "$src"/samples/*.ndjson; do
  "$bin" replay --input "$s" --until 2026-11-26T00:00:00Z --out "$work/r1" 2> /dev/null
  "$bin" replay --input "$s" --until 2026-11-26T00:00:00Z --out "$work/r2" 2> /dev/null
  check "deterministic replay of $(basename "$s")" diff -r "$work/r1" "$work/r2"
done

# staffing: the issue's reference case, and errors that name the option.
ref=(--arrivals 100 --interval-s 1800 --aht-s 180 --sl-target 0.8 --sl-threshold-s 20 --shrinkage 0.3)
"$bin" staffing "${ref[@]}" --max-occupancy 0.85 --patience-s 120 > "$work/staff.json"
check "staffing exits 0" test $? -eq 0
check "staffing: 14 raw, 20 scheduled at 0.85" \
  grep -q '"erlang_c":{"raw_agents":14,"scheduled_agents":20,"service_level":0.88835,"occupancy":0.714286,"wait_probability":0.174132' "$work/staff.json"
check "staffing: erlang_a with patience" grep -q '"erlang_a":{"raw_agents":' "$work/staff.json"
check "staffing: one JSON object" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/staff.json"
"$bin" staffing "${ref[@]}" --max-occupancy 0.70 > "$work/staff70.json"
check "staffing: 15 raw, 22 scheduled at 0.70" grep -q '"raw_agents":15,"scheduled_agents":22' "$work/staff70.json"
check "staffing: no erlang_a without patience" bash -c "! grep -q erlang_a '$work/staff70.json'"
"$bin" staffing "${ref[@]}" --interval-s 0 > /dev/null 2> "$work/staff_err.txt"
check "staffing: bad value exits 2" test $? -eq 2
check "staffing: error names --interval-s" grep -q -- '--interval-s: "0" must be > 0' "$work/staff_err.txt"

echo "$pass passed, $failures failed"
[ "$failures" -eq 0 ]
