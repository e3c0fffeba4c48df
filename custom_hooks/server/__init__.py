"""The composition root: the ASGI app, the start-up order, the HTTP server, the CLI."""
