"""Command-line entry points: ``python -m ray_provider.cli.<name>``."""
