"""Pluggable storage mode (``storageType: 'pluggable'``): the Split Synchronizer's data read,
and the SDK's records written, through a storage object the user provides (``storageWrapper``)
with the official method set.

``wrapper`` checks the wrapper as the official SDK does; ``runner`` calls it the way its flavour
and the caller's API need; ``reads`` turns what the consumer view asks for into wrapper calls;
``sink`` writes the records; ``store`` puts them together for the factory.
"""
