"""Models of the engine: each file holds one model with its config dataclass (nanoGPT style)."""
