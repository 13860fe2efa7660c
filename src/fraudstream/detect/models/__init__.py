"""Tabular scorers, each a :class:`~fraudstream.detect.base.ScoringModel`.

``gbm`` (XGBoost), ``isolation`` (isolation forest), ``autoencoder`` (MLP
reconstructor), ``online`` (SGD logistic regression with ``partial_fit``),
``ensemble`` (weighted log-odds blend) and ``calibration`` (isotonic / Platt).
Modules are imported explicitly, so importing this package stays cheap.
"""
