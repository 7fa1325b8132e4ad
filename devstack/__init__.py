"""The local platform on one machine: a Ray head, an S3 server and Airflow, stopped by PID.

One home for the wiring that `make demo`, the benchmarks (`bench/`) and the tests all use.
Nothing here is test-only; `tests/support` keeps what is.
"""
