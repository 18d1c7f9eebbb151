# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The triage scenario of wall mode: a Flask endpoint that is slow because it
computes for part of each request and waits on a "database" for the rest.

    gunicorn -w 4 -b 127.0.0.1:PORT --chdir tools/bench/workloads slow_endpoint:app
    wrk -t2 -c8 -d20s http://127.0.0.1:PORT/slow
    curl http://127.0.0.1:PORT/stats    # this worker's own measured split

GET /slow runs heavy_computation (pure Python, ~30 ms of CPU on an idle core) and then
database_query_simulation (a 50 ms time.sleep standing for a query). Each
worker measures the wall time of both parts; /stats returns its totals, the
ground truth to compare a wall-mode profile with.
"""
import os
import time

from flask import Flask, jsonify

app = Flask(__name__)
TOTALS = {"requests": 0, "compute_s": 0.0, "db_s": 0.0}


def heavy_computation(n=500000):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


def database_query_simulation(seconds=0.05):
    time.sleep(seconds)
    return [{"id": 1}]


@app.route("/slow")
def slow():
    t0 = time.monotonic()
    value = heavy_computation()
    t1 = time.monotonic()
    rows = database_query_simulation()
    t2 = time.monotonic()
    TOTALS["requests"] += 1
    TOTALS["compute_s"] += t1 - t0
    TOTALS["db_s"] += t2 - t1
    return jsonify({"value": value, "rows": len(rows)})


@app.route("/stats")
def stats():
    return jsonify(dict(TOTALS, pid=os.getpid()))
