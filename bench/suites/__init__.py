"""The benchmarks, each with ``main(argv)`` and ``headlines(data)``; see ``bench/registry.py``."""
