"""Canonical motion: skeleton, rotations, kinematics, HumanML3D features, previews."""
