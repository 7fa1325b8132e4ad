"""Example DAGs shipped with the provider, as Airflow providers ship theirs.

Point a DAG folder (or ``airflow dags test``) at this directory to try them; they parse without a
Ray cluster, and run against the ``ray_default`` connection (``s3_checkpoints`` for the
checkpoint example).
"""
