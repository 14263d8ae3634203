"""Replay: recorded or imported signals through the same parsers, risk engine and paper fill
model as live trading, in simulated time over stored candles (DESIGN.md, "Replay").

``spec`` what is asked; ``inputs`` signals from stored rows or files; ``history`` candles;
``ledger`` the simulated account; ``engine`` the loop; ``metrics`` the formulas; ``report``
the deterministic JSON and the CLI table; ``service`` / ``jobs`` / ``routes`` run it.
A replay writes only its own table (``replays``), never orders, positions, balances or signals.
"""
