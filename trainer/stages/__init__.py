"""Training stages, one plain loop per module (nanoGPT train.py style)."""
