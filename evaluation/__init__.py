"""Evaluation tools: generated media with known ground truth, batch runs and metrics.

Run a module with ``python -m evaluation.NAME --help``.
"""
