"""coldstart: the recommendation library (encoder, item index, profiles, ranking, ads).

This package never imports Kafka or Faust: it takes plain values and returns plain values.
"""
from __future__ import annotations

__version__ = "0.1.0"
