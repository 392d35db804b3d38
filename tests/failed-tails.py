#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the last lines of each failed test's output from meson's
testlog.json, so a CI that keeps only the tail of the log still shows why.
A fuzz test's reproducer (the lines from "---- reproducer" to "---- end of
reproducer" that tests/fuzz_report.sh writes) is printed whole as well.

    failed-tails.py TESTLOG.json LINES
"""
import json
import sys

BAD = ('FAIL', 'TIMEOUT', 'UNEXPECTEDPASS', 'ERROR')


def main():
    path, keep = sys.argv[1], int(sys.argv[2])
    try:
        with open(path) as f:
            tests = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print('failed-tails: %s: %s' % (path, e))
        return
    for t in tests:
        if t.get('result') not in BAD:
            continue
        lines = ((t.get('stdout') or '') + (t.get('stderr') or '')).splitlines()
        tail = max(0, len(lines) - keep)
        inside = False
        for i, line in enumerate(lines[:tail]):
            if line.startswith('---- reproducer '):
                inside = True
                print('==== %s: reproducer (line %d)' % (t['name'], i + 1))
            if inside:
                print('  | ' + line)
            if line.startswith('---- end of reproducer'):
                inside = False
        print('==== last %d lines of %s (%s)' % (len(lines) - tail, t['name'], t['result']))
        for line in lines[tail:]:
            print('  | ' + line)


if __name__ == '__main__':
    main()
