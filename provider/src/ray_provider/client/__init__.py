"""Airflow-side client of the Ray result registry: connection, identity, references, results.

Code here runs in Airflow processes (task workers, the scheduler's release child) and talks to
Ray; it holds no Airflow operator or hook logic (those live in ``decorators/`` and ``hooks/``).
"""
