"""A helper package of the Git bundle: Airflow imports it from the bundle's checkout, Ray can't."""
