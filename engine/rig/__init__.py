"""Rigs: mapping a character's skeleton onto the canonical SMPL-22 skeleton (name maps, retargeting)."""
