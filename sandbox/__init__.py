"""A local stand-in for the Elucidat Project API v2 that speaks its signed protocol.

Start it with ``python -m sandbox`` or ``sandbox.server.SandboxServer``. It serves only
on loopback addresses and accepts the demo key pair documented in sandbox.server.
"""
