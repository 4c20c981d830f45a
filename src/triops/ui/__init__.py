"""Server-rendered web UI: Jinja2 pages and the project's own static assets."""
