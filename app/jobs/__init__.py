"""Stage 4: the queue. Enqueue intents by id on their venue's RQ queue; the sweeper re-drives."""
