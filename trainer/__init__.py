"""Motion Copilot trainer: data building, every training stage, evaluation. Imports engine."""
