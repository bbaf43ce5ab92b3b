"""Test doubles that stand in for external services (a fake Split HTTP/SSE server)."""
