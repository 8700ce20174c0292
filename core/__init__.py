"""Qt-free core of Release Desk: the Elucidat API client, history and key handling.

Nothing in this package imports Qt, so the command line, the tests and the window all
build on the same code.
"""

__version__ = "0.1.0"
APP_NAME = "Release Desk"
APP_ID = "release-desk"
