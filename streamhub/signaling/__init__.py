"""The signaling WebSocket: transport (connection.py), per-participant logic (session.py)."""
