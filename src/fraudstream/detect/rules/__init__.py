"""Rules as data: a YAML rule language compiled to vectorised numpy predicates.

See :mod:`~fraudstream.detect.rules.engine` for the format and the precedence of
allow / block lists, and :mod:`~fraudstream.detect.rules.loader` for hot reload.
"""

from fraudstream.detect.rules.engine import LIST_ALLOW, LIST_BLOCK, LIST_NONE, RuleResult, RuleSet
from fraudstream.detect.rules.loader import RuleSetLoader, default_rules_path, load_ruleset

__all__ = [
    "LIST_ALLOW",
    "LIST_BLOCK",
    "LIST_NONE",
    "RuleResult",
    "RuleSet",
    "RuleSetLoader",
    "default_rules_path",
    "load_ruleset",
]
