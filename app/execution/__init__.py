"""Stage 5: execute an intent on its venue and record the order, its events, fills and the position."""
