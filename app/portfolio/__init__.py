"""Portfolios and rebalancing (issue 19): target weights per asset, the legs that move an
account's spot holdings to them, and their execution in two steps (sells, then buys).

- ``legs``: the pure leg planner (the formulas);
- ``market``: holdings, prices and venue rules of an account, read for the planner;
- ``decide``: one rebalance decision, each leg decided by the risk engine;
- ``store``: the ``rebalances`` rows, advancing a rebalance from its sells to its buys;
- ``schedule``: the scheduler's triggers (``every``, ``on_drift``);
- ``routes``: ``GET /api/v1/rebalances[/{id}]``.
"""
