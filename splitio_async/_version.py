"""Version of splitio_async, and the SDK version Split's services see.

``__version__`` is this package's own release. ``SDK_WIRE_VERSION`` is what goes out as
``SplitSDKVersion`` (every request and the SSE connection), in the Redis records the Split
Synchronizer reads and in the impression listener's ``sdk-language-version``: the official SDK
release whose behaviour and wire formats this package reproduces. Split's services and the
Synchronizer read that string as the Python SDK's version (for its release's protocol, and in
their dashboards); ``python-0.1.0`` would make a current SDK look years out of date to them. The
package's own version is logged at debug level when a factory starts.
"""

__version__ = "0.1.0"
SDK_WIRE_VERSION = "python-10.7.0"
