"""Faust agents, one module per domain: users (profiles, recommendations) and ads (page views)."""
