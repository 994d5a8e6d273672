#!/usr/bin/env bash
# Runs one replay scenario and compares every output stream with the
# hand-written expectation, then replays again and requires byte-identical
# outputs.
#
# usage: run_scenario.sh CXSTREAM SCENARIO_DIR
# A scenario directory holds input*.ndjson (replayed in name order), optional
# config.yaml and `until` (an RFC 3339 time for --until), and expected/ with
# for each stream that must not be empty either <stream>.ndjson (the exact
# records) or <stream>.table (the fields that matter, one record per row; see
# compare_table.py), and optional summary.contains (lines the replay summary
# must contain). A stream with neither file must be empty, unless it is
# named in expected/unchecked (a scenario about one processor need not spell
# out what the others emit for its input).
set -euo pipefail
here=$(dirname "$(realpath "$0")")
bin=$(realpath "$1")
dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$dir"

args=()
[ -f config.yaml ] && args+=(--config config.yaml)
for f in input*.ndjson; do args+=(--input "$f"); done
[ -f until ] && args+=(--until "$(cat until)")

"$bin" replay "${args[@]}" --out "$work/a" 2> "$work/summary.txt"
fail=0
for s in sla alerts profiles staffing dlq; do
  if [ -f expected/unchecked ] && grep -qx "$s" expected/unchecked; then
    continue
  fi
  if [ -f "expected/$s.table" ]; then
    if ! python3 "$here/compare_table.py" "expected/$s.table" "$work/a/$s.ndjson" > "$work/diff"; then
      echo "FAIL: $s.ndjson differs from expected/$s.table:"
      cat "$work/diff"
      fail=1
    fi
    continue
  fi
  want=expected/$s.ndjson
  [ -f "$want" ] || want=/dev/null
  if ! diff -u "$want" "$work/a/$s.ndjson" > "$work/diff"; then
    echo "FAIL: $s.ndjson differs from $want (- expected, + actual):"
    cat "$work/diff"
    fail=1
  fi
done
if [ -f expected/summary.contains ]; then
  while IFS= read -r line; do
    if ! grep -qF -- "$line" "$work/summary.txt"; then
      echo "FAIL: replay summary lacks \"$line\":"
      cat "$work/summary.txt"
      fail=1
    fi
  done < expected/summary.contains
fi

"$bin" replay "${args[@]}" --out "$work/b" 2> /dev/null
for s in sla alerts profiles staffing dlq; do
  if ! cmp -s "$work/a/$s.ndjson" "$work/b/$s.ndjson"; then
    echo "FAIL: a second replay gave different bytes in $s.ndjson"
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "scenario $(basename "$PWD"): OK"
exit "$fail"
