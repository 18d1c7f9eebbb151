# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Frames created and destroyed as fast as the interpreter can.

One asyncio event loop runs rounds of: awaiting asyncio.sleep(0) (a
coroutine created, run by the C Task and finished, each time), creating
generators that are dropped before they start (a frame whose instruction
offset is still "before the first instruction"), and class calls running a
Python __init__ (3.13+ specialise them with an internal cleanup frame below
__init__). So most samples land in a frame that is being pushed or popped:
the walker must name every frame correctly or leave it out, never read
garbage, and give each frame a line inside its function.

usage: framechurn.py   prints "ready" once warmed up, runs until killed.
"""
import asyncio


def fresh_gen(k):
    yield k  # GEN-BODY


class Boxed:
    def __init__(self, k):
        self.k = k  # INIT-BODY


def make_gens():
    for k in range(200):
        fresh_gen(k)  # CALL-GEN


def make_objs():
    for k in range(200):
        Boxed(k)  # CALL-INIT


async def churn():
    for _ in range(200):
        await asyncio.sleep(0)  # AWAIT-SLEEP


async def main():
    for n in range(50):  # warm up (specialisation)
        make_gens()
        make_objs()
        await churn()
    print("ready", flush=True)
    while True:
        make_gens()
        make_objs()
        await churn()


asyncio.run(main())
