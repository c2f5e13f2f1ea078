"""Benchmarks of Backchannel's fan-out against the Channels tutorial and a bare `websockets` server.

`make bench` / `make bench-quick`, or `python -m bench [--quick]`; bench/README.md says what each
scenario does and how to read the report.
"""
