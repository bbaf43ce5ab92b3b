"""Parsed, compiled, immutable flag data. Pure: no I/O, no anyio, httpx or redis."""
