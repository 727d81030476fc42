"""Deployments of qflow: the one-machine cluster (``make up-cluster``)."""
