"""Tools around the worker (never run inside it): the CLI, local broker, replay, demo, bench, simulation."""
