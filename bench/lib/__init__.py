"""Shared by the benchmarks: timing and result files, the platform, plots, the combined report."""
