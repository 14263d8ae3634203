"""Paper shadow of a live strategy (issue 15): "is my execution costing me money?"

A strategy with ``shadow`` set (``app.config_file.StrategyConfig.shadow``) sends every order its
live (primary) account's decision approves to a paper account as well: the same side, type and
quantity (the live decision's, after the live venue's precision; the shadow does not size on
its own equity), fed by the live venue's market data. The shadow is one more account's branch
of the signal (a decision, intents and events written in the ingest transaction), so it costs
the live order one small query and never a lock or a wait.

``mirror`` builds that branch at ingest; ``compare`` reads both fills back per signal (the
sender's price, the market at receipt, the live and the shadow fill, slippage between them) and
per strategy (live vs shadow realised PnL and fees, daily); ``routes`` serves
``GET /api/v1/strategies/{name}/shadow``.
"""
