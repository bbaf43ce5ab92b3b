"""Where evaluations read their data from: immutable snapshots (memory) or Redis."""
