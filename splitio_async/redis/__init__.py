"""Redis consumer mode's back end: everything that knows the Split Synchronizer's Redis.

In consumer mode the SDK never talks to Split: the Synchronizer keeps the rollout data in Redis and
drains what the SDK records (spec: storage-redis.md). This package holds all the Redis-specific
code; nothing outside it spells a Redis key or a Redis command.

* ``settings`` -- the ``redis*`` config keys, validated once (pure).
* ``keys`` -- the Synchronizer's key layout (pure).
* ``resp`` -- our small RESP2 client on anyio streams, and the reply reader (transport: imports
  redis-py for its exception types).
* ``connection`` -- the factory's Redis clients and how a batch of commands runs (transport:
  the module that builds redis-py clients).
* ``sink`` -- where the recorders' impressions, events, counts, unique keys and telemetry go.

Only ``resp`` and ``connection`` import redis-py (the layer rule of STYLE.md §2: I/O at the edge).
The package's ``__init__`` imports nothing, so importing a pure module of it never needs the
``redis`` extra.
"""
