"""HTTP layer: one router per protocol, auth, errors mapped to status codes."""
