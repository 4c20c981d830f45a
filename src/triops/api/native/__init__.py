"""triops' own API under /api/v1, described by the OpenAPI spec."""
