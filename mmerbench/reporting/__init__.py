"""Leaderboard add-ons, plots and ``mmerbench report`` (DESIGN.md section 1)."""
