"""Routing across venues (issue 19): a strategy's venue group (``[strategies.X] route``) is
several accounts, on different venues, holding the same symbol; each opening order goes to the
account where it costs least all-in (book walk + taker fee), or is split across several when
``route_split`` is on and that costs less.

* ``cost``: the pure cost model and the choice (formulas in its docstring);
* ``service``: what ingest and the dry run call: each account's risk decision under its lock,
  the candidates' books, fees, balances and breakers, the choice, the decisions to record;
* ``report``: expected against realised cost, for the trace and the statistics per venue.
"""
