"""Jobs: the run store (SQLite) and the worker process that runs queued jobs."""
