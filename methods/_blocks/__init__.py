"""Torch layers that two or more methods share. One file per layer family."""
