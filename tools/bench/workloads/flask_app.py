# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A small CPU-bound Flask app, as a typical production triage target:
served by gunicorn (4 sync workers), driven by wrk.

    gunicorn -w 4 -b 127.0.0.1:PORT --chdir tools/bench/workloads flask_app:app

GET /  builds a few hundred records through a couple of layers of Python
(a "model", a "service", a "view"), sorts and aggregates them and returns JSON:
about 1-2 ms of CPU per request.
"""
import hashlib
import json

from flask import Flask, jsonify

app = Flask(__name__)


class Item:
    __slots__ = ("id", "name", "price", "qty", "tags")

    def __init__(self, i):
        self.id = i
        self.name = "item-%05d" % i
        self.price = (i * 7919) % 1000 / 10.0
        self.qty = (i * 31) % 17
        self.tags = [t for t in ("a", "b", "c", "d") if (i >> ord(t) % 4) & 1]

    def to_dict(self):
        return {"id": self.id, "name": self.name, "price": self.price, "qty": self.qty,
                "tags": self.tags}


def load_items(n):
    return [Item(i) for i in range(n)]


def summarize(items):
    by_tag = {}
    for it in items:
        for t in it.tags:
            s = by_tag.setdefault(t, [0, 0.0])
            s[0] += it.qty
            s[1] += it.qty * it.price
    top = sorted(items, key=lambda it: (-it.price * it.qty, it.id))[:20]
    return by_tag, top


def render(by_tag, top):
    body = {"tags": {k: {"qty": v[0], "value": round(v[1], 2)} for k, v in by_tag.items()},
            "top": [it.to_dict() for it in top]}
    etag = hashlib.md5(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body, etag


@app.route("/")
def index():
    by_tag, top = summarize(load_items(400))
    body, etag = render(by_tag, top)
    resp = jsonify(body)
    resp.headers["ETag"] = etag
    return resp
