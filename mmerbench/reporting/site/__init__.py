"""The static leaderboard site (`mmerbench site`): see ``builder`` for its layout."""
