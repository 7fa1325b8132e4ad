"""py-spy profiles behind the benchmark numbers (``python -m bench.profiling.sampling``)."""
