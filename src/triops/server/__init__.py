"""The server: assembles the api and ui routers into one application.

It holds what both edges need — the runtime, authentication and role dependencies, UI
sessions, key revocations, middleware, the input guard, error mapping and health.
``triops.server.app`` is the only module here that imports ``triops.api`` or
``triops.ui``; every other module sits below both edges.
"""
