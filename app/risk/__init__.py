"""Stage 3: the risk engine. ``evaluate(signal, state) -> RiskDecision``; a denial is data."""
