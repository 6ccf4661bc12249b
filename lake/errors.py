"""Errors of the storage layer, worded for the user: the URL and the reason."""


class LakeError(RuntimeError):
    """The lake cannot be reached, read or written."""
