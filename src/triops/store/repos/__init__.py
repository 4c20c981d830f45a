"""One repository module per domain; each function takes the caller's session."""
