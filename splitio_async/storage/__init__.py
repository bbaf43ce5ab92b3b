"""Where evaluations read their data from: immutable snapshots (memory), or a store another
process keeps (consumer mode: Redis, pluggable storage) read through ``reads``."""
