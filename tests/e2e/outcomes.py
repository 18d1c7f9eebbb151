# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""pytest plugin: a table of outcomes per interpreter at the end of the run.

Each test that takes the `python` fixture runs once per interpreter; the
table counts passed / failed / error / skipped / xfailed / xpassed by the
interpreter's id (tests without an interpreter are one row of their own),
so the log shows what ran on which Python. It comes before pytest's
short summary (-ra: skip and xfail reasons) and its closing line.
Loaded from conftest.py (pytest_plugins).
"""
import collections

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
NO_INTERPRETER = "(no interpreter)"

_interp_of = {}


def _interp_id(item):
    callspec = getattr(item, "callspec", None)
    if callspec is None or "python" not in callspec.params:
        return NO_INTERPRETER
    py = callspec.params["python"]
    return getattr(py, "id", None) or "no-python"


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        _interp_of[item.nodeid] = _interp_id(item)


def tally(stats, interp_of):
    """{interpreter: Counter(outcome)} from the terminal reporter's stats.
    One outcome per test: an error in setup/teardown counts as error even
    if the call passed."""
    final = {}
    for outcome in OUTCOMES:
        for rep in stats.get(outcome, ()):
            nodeid = getattr(rep, "nodeid", None)
            if not nodeid:
                continue
            if outcome == "passed" and final.get(nodeid) == "error":
                continue
            final[nodeid] = outcome
    table = collections.defaultdict(collections.Counter)
    for nodeid, outcome in final.items():
        table[interp_of.get(nodeid, NO_INTERPRETER)][outcome] += 1
    return table


def format_table(table):
    rows = sorted(table, key=lambda k: (k == NO_INTERPRETER, k))
    width = max([len("interpreter")] + [len(r) for r in rows])
    head = "%-*s " % (width, "interpreter") + " ".join("%8s" % o for o in OUTCOMES) + "    total"
    lines = [head]
    total = collections.Counter()
    for r in rows:
        c = table[r]
        total.update(c)
        lines.append("%-*s " % (width, r) + " ".join("%8d" % c[o] for o in OUTCOMES)
                     + " %8d" % sum(c.values()))
    lines.append("%-*s " % (width, "all") + " ".join("%8d" % total[o] for o in OUTCOMES)
                 + " %8d" % sum(total.values()))
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    table = tally(terminalreporter.stats, _interp_of)
    if not table:
        return
    terminalreporter.write_sep("=", "outcomes per interpreter")
    for line in format_table(table):
        terminalreporter.write_line(line)
