"""The operator's API: traces, orders, fills, positions, strategies, accounts. Admin token only."""
