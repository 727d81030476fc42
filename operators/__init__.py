"""qflow's Airflow layer: hooks, operators (and, later, triggers and sensors) over `include/`."""
