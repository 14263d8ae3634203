"""Stage 1 and 2: take requests in, authenticate them, parse each dialect into a ``Signal``."""
