"""fraudstream: real-time fraud detection on Apache Kafka.

Transactions stream in, every one is scored by rules, ML models and a graph
neural network exactly once, scores and alerts flow out, and analysts'
verdicts flow back into the models.
"""

__version__ = "0.1.0"
