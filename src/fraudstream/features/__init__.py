"""Features: the contract shared by training and serving, stateless and windowed features.

``offline_features(df)`` (training) and ``OnlineFeatures().transform(batch, store)``
(serving) produce the same matrix for the same stream; columns are
``FEATURE_NAMES`` of :mod:`fraudstream.features.contract`.
"""

from fraudstream.features.contract import (
    FEATURE_CONTRACT_VERSION,
    FEATURE_NAMES,
    LEAKAGE_FIELDS,
    strip_leakage,
)
from fraudstream.features.offline import offline_features
from fraudstream.features.online import OnlineFeatures
from fraudstream.features.windows import rolling_by_key

__all__ = [
    "FEATURE_CONTRACT_VERSION",
    "FEATURE_NAMES",
    "LEAKAGE_FIELDS",
    "OnlineFeatures",
    "offline_features",
    "rolling_by_key",
    "strip_leakage",
]
