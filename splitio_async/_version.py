"""Version of splitio_async (reported to Split as the SDK version, ``python-<version>``)."""

__version__ = "0.1.0"
