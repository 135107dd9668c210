"""Leaderboard add-ons, plots and ``mmerbench report``."""
