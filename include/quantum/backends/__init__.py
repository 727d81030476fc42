"""Quantum backends behind one interface (see base.py) and one error taxonomy (errors.py)."""
