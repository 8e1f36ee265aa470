"""`coldstart dashboard`: the live page (server.py), its series (series.py), its static files."""
