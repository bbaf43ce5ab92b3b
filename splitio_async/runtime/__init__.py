"""What the actors are built from without being actors themselves: backoff and problem logs,
the hot path's thread-safe intake, the cross-thread waker, the clock, bounded file reads, and the
small pure policies the syncers consult (the ``splitChanges`` spec version, the streaming status
tracker). Nothing here runs as a task of its own."""
