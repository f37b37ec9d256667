"""Debug logging that costs nothing until ``cli`` turns it on.

``logging`` is imported only when enabled, so a cache hit does not pay for it.
"""

from __future__ import annotations

enabled = False


def debug(message: str, *args: object) -> None:
    """Log at debug level to the ``docker_credential_ecr`` logger when logging is enabled."""
    if enabled:
        import logging

        logging.getLogger("docker_credential_ecr").debug(message, *args)
