"""A simulator of the Proxmox VE HTTP API (pveproxy), in the style of moto.

``backend.Backend`` holds the state; ``app.dispatch`` is the HTTP pipeline (auth, route,
permission check, validation, handler, envelope); ``server.ThreadedServer`` serves it.
"""
