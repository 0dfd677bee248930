"""PBFT as a pure state machine (sans-IO).

The replica takes one event at a time and returns the effects it wants
performed; drivers (the aiohttp node, the simulator, tests) perform them.
Nothing in this package may import asyncio, sockets, plyvel, a clock, a
random source, `os`, `contracts` or `node`: time arrives as an argument, signing as an
injected object, and signature verification happens in the driver.
"""
