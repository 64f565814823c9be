"""End-to-end helpers for the tests; they live in tools.e2e so the reliability matrix shares them."""

from tools.e2e import CONNECTORS, ROOT, Comparison, ConnectorDir, DebugRun, compare, fivetran_env, normalise, snake

__all__ = ["CONNECTORS", "ROOT", "Comparison", "ConnectorDir", "DebugRun", "compare", "fivetran_env", "normalise",
           "snake"]
