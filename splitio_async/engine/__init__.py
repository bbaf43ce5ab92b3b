"""Pure evaluation logic over parsed models: no I/O, no anyio, no locks."""
