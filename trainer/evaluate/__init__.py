"""Evaluation suite: metrics (metrics.py, text_metrics.py, plausibility.py), the frozen evaluator
encoders (evaluator_models.py), and the results table (`motion-train evaluate`, run.py + table.py)."""
