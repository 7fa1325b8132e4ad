"""The HIGGS pipeline's building blocks, kept out of the DAG file so they can be tested alone."""
