"""Ranking: profiles, popularity, co-occurrence, the bandit, the blend and the reasons shown with it."""
