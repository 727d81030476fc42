"""Executors: Airflow's LocalExecutor with worker processes that start warm (``warm_local``)."""
