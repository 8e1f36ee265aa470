"""streams: the Faust app that turns topics into library calls and results into events."""
