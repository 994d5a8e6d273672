#!/usr/bin/env python3
"""Compares an output stream (NDJSON) with a hand-written expectation table.

usage: compare_table.py EXPECTED.table ACTUAL.ndjson

The table is whitespace-separated text. Lines starting with '#' and blank
lines are comments. The first other line names the columns (output field
names); every further line is one expected record, in output order, giving
one value per column and optionally `field=value` tokens for further fields
of that record only. A value `-` means the field must be absent.

Values compare as written in the contract: numbers numerically (60 == 60.0,
within 1e-5 relative for figures computed by hand),
booleans as true/false, timestamps with or without a zero millisecond part
(2026-11-20T09:01:00Z == 2026-11-20T09:01:00.000Z). Fields the table does not
name are not compared (the byte-identity check of run_scenario.sh covers the
whole record between two replays).

Also checks that no two records share an `id` (each decision has its own).
Exit status 0 when everything matches; otherwise every difference is printed.
"""
import json
import re
import sys

ZERO_MS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.000(Z|[+-]\d\d:\d\d)$")


def normalize(value):
    """Both the expected text and the actual JSON value to one comparable string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value))
    text = str(value)
    m = ZERO_MS.match(text)
    if m:
        text = m.group(1) + m.group(2)
    try:
        return repr(float(text))
    except ValueError:
        return text


MISSING = object()


def lookup(record, path):
    """A field by dotted path, or MISSING."""
    value = record
    for part in path.split("."):
        if value is None:
            return None  # inside a null object: null
        if isinstance(value, list) and part.isdigit():
            if int(part) >= len(value):
                return MISSING
            value = value[int(part)]
            continue
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def same(expected_text, actual):
    """Numbers written by hand to 6 significant digits match within 1e-5."""
    a, b = normalize(expected_text), normalize(actual)
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-5 * max(1.0, abs(x))


def parse_table(path):
    columns, rows = None, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            tokens = line.split()
            if columns is None:
                columns = tokens
                continue
            if len(tokens) < len(columns):
                sys.exit(f"{path}:{n}: {len(tokens)} values for {len(columns)} columns")
            row = dict(zip(columns, tokens[: len(columns)]))
            for extra in tokens[len(columns):]:
                if "=" not in extra:
                    sys.exit(f"{path}:{n}: extra value {extra!r} is not field=value")
                k, v = extra.split("=", 1)
                row[k] = v
            rows.append((n, row))
    return columns or [], rows


def main():
    table, actual_path = sys.argv[1], sys.argv[2]
    columns, expected = parse_table(table)
    with open(actual_path, encoding="utf-8") as f:
        actual = [json.loads(line) for line in f if line.strip()]
    errors = []
    for i in range(max(len(expected), len(actual))):
        if i >= len(actual):
            errors.append(f"record {i + 1}: missing; expected (table line {expected[i][0]}) {expected[i][1]}")
            continue
        if i >= len(expected):
            rec = {c: lookup(actual[i], c) for c in columns}
            errors.append(f"record {i + 1}: not expected: {rec}")
            continue
        line, want = expected[i]
        got = actual[i]
        diffs = []
        for k, v in want.items():
            value = lookup(got, k)
            if v == "-":
                if value is not MISSING:
                    diffs.append(f"{k}: expected absent, got {value!r}")
            elif value is MISSING:
                diffs.append(f"{k}: expected {v}, absent")
            elif not same(v, value):
                diffs.append(f"{k}: expected {v}, got {value!r}")
        if diffs:
            errors.append(f"record {i + 1} (table line {line}): " + "; ".join(diffs))
    ids = [r.get("id") for r in actual if "id" in r]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        errors.append(f"records share an id: {dup}")
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
