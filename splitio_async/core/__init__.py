"""The core of every client and manager call, shared by both APIs: no I/O, no event loop, no lock.

A public call goes: facade (``splitio_async.Client`` or the shim's) -> core -> ``Driver``:

* ``evaluation``: ``EvaluationCore``, one per factory: validates a call's input, takes the data
  from the in-memory snapshot or a remote store, evaluates with the pure ``engine``, queues
  impressions and events for the recorders, times the call for telemetry. What differs between
  modes (where the data is, whether calls are timed) is composed in, not subclassed.
* ``manager``: ``ManagerCore`` and the ``SplitView`` it answers with.
* ``track``: what makes a ``track`` call's event valid.
* ``remote``: what the cores read from a store whose reads need I/O (Redis consumer mode), and how
  a failed read is logged.
* ``steps``: such reads as I/O-free steps, the loops that run them on a connection, and the
  ``Driver`` with which each API settles a call's result (the one place results and steps are
  told apart).

The core is its own package rather than ``engine/`` because it is not pure data processing: it
logs the official lines, appends to the recorders' intakes and calls the impression listener.
``splitio_async.lowlevel`` re-exports what the blocking shim needs of it.
"""
