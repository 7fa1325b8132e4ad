"""Code that runs inside the Ray cluster: it must never import Airflow.

The registry actor and the task wrapper are shipped to Ray workers by reference, so the Ray
image needs this package installed (the project's Ray image does).
"""
