"""Graph features of the handbook's customer-terminal bipartite graph (no GNN).

Customers and terminals form a bipartite graph whose edges are transactions. The
two fraud scenarios of the simulator that are not about the amount live on that
graph: a compromised terminal defrauds every customer who uses it, a leaked
customer is defrauded at the terminals they usually use. These features propagate
*delayed* labels one and two hops through the graph, point-in-time:

* ``GRAPH_CUSTOMER_TERMINALS_RISK``: mean over the customer's transactions of the
  last ``window`` days (excluding this one) of the 30-day delayed fraud rate of the
  terminal each was made at, as known at that transaction's time (customer ->
  terminals, one hop).
* ``GRAPH_CUSTOMER_TERMINALS_FRAUD``: the same, summing the terminals' delayed fraud
  counts.
* ``GRAPH_TERMINAL_CUSTOMERS_FRAUD``: mean over the terminal's transactions of the
  last ``window`` days of the paying customer's delayed fraud count (terminal ->
  customers, one hop; with the customer's own label history, two hops from the
  terminal to the other terminals where its customers were defrauded).
* ``GRAPH_TERMINAL_CUSTOMERS_KNOWN``: how many of those transactions came from a
  customer with a known (delayed) fraud.

Each neighbour value is the one the neighbour's row carried at its own time, which
only reads labels older than the delay before that time, so nothing here sees a
label younger than the delay before the scored transaction. This is a *graph
feature signal* for the tree model, not a trained graph neural network (that one
lives in ``fraudstream.detect.gnn``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudstream.datasets.windows import EntityIndex
from fraudstream.errors import ValidationError

DAY = 86_400.0

GRAPH_FEATURES: tuple[str, ...] = (
    "GRAPH_CUSTOMER_TERMINALS_RISK",
    "GRAPH_CUSTOMER_TERMINALS_FRAUD",
    "GRAPH_TERMINAL_CUSTOMERS_FRAUD",
    "GRAPH_TERMINAL_CUSTOMERS_KNOWN",
)

#: Per-row, delay-respecting columns the graph features aggregate (from ``handbook``).
_NEEDS = (
    "TERMINAL_ID_RISK_30DAY_WINDOW",
    "TERMINAL_ID_NB_FRAUD_DELAYED_30DAY",
    "CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY",
)


def add_graph_features(df: pd.DataFrame, window_days: int = 30) -> pd.DataFrame:
    """Add ``GRAPH_FEATURES`` to a frame that already has the handbook features (in place).

    Example:
        >>> df = pd.DataFrame({
        ...     "CUSTOMER_ID": [1, 2, 1], "TERMINAL_ID": [7, 7, 8],
        ...     "TX_TIME_SECONDS": [0.0, 100.0, 200.0],
        ...     "TERMINAL_ID_RISK_30DAY_WINDOW": [0.5, 0.0, 0.0],
        ...     "TERMINAL_ID_NB_FRAUD_DELAYED_30DAY": [2.0, 0.0, 0.0],
        ...     "CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY": [1.0, 0.0, 0.0]})
        >>> out = add_graph_features(df)
        >>> out["GRAPH_CUSTOMER_TERMINALS_RISK"].tolist()  # row 2: customer 1 used terminal 7
        [nan, nan, 0.5]
        >>> out["GRAPH_TERMINAL_CUSTOMERS_KNOWN"].tolist()  # row 1: customer 1 paid there
        [0.0, 1.0, 0.0]
    """
    missing = [c for c in (*_NEEDS, "CUSTOMER_ID", "TERMINAL_ID", "TX_TIME_SECONDS") if c not in df]
    if missing:
        raise ValidationError(f"graph features need columns {missing}", field="frame")
    if window_days <= 0:
        raise ValidationError("window_days must be positive", field="window_days")
    w = window_days * DAY
    t = df["TX_TIME_SECONDS"].to_numpy(dtype=np.float64)
    ones = np.ones_like(t)
    cust = EntityIndex.build(df["CUSTOMER_ID"].to_numpy(), t, w)
    term = EntityIndex.build(df["TERMINAL_ID"].to_numpy(), t, w)
    n_cust = cust.window_sum(ones, start=w)
    n_term = term.window_sum(ones, start=w)
    risk = df["TERMINAL_ID_RISK_30DAY_WINDOW"].to_numpy(dtype=np.float64)
    term_fraud = df["TERMINAL_ID_NB_FRAUD_DELAYED_30DAY"].to_numpy(dtype=np.float64)
    cust_fraud = df["CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["GRAPH_CUSTOMER_TERMINALS_RISK"] = np.where(
            n_cust > 0, cust.window_sum(risk, start=w) / n_cust, np.nan
        )
        df["GRAPH_TERMINAL_CUSTOMERS_FRAUD"] = np.where(
            n_term > 0, term.window_sum(cust_fraud, start=w) / n_term, np.nan
        )
    df["GRAPH_CUSTOMER_TERMINALS_FRAUD"] = cust.window_sum(term_fraud, start=w)
    df["GRAPH_TERMINAL_CUSTOMERS_KNOWN"] = term.window_sum(
        (cust_fraud > 0).astype(np.float64), start=w
    )
    return df
