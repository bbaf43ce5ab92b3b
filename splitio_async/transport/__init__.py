"""Edges: the only package that imports httpx (and later httpx-sse). Errors are translated here
into ``APIError`` so the actors never see a library exception."""
