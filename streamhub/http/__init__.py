"""The HTTP server's own defences: security headers on every response, request bodies that are
authenticated before they are read and capped while they stream, and connection limits and
timeouts in the server (slowloris)."""
