"""Pure: an ECR authorization token and the rules for when it may be served."""

from __future__ import annotations

# A token that is not fresh is refreshed; a token that is not usable is never
# served.  The skew margin covers a host clock that runs a little behind the
# registry's: a token that looks valid for two more minutes may already be
# refused.
CLOCK_SKEW = 300.0
DEFAULT_LIFETIME = 12 * 3600.0
# By default a token enters its refresh window when this fraction of its lifetime is left.
REFRESH_FRACTION = 0.5


class AuthToken:
    """Registry credentials with the time they were requested and the time they expire."""

    __slots__ = ("endpoint", "expires_at", "requested_at", "secret", "user")

    def __init__(
        self, user: str, secret: str, endpoint: str, requested_at: float, expires_at: float
    ) -> None:
        self.user = user
        self.secret = secret
        self.endpoint = endpoint
        self.requested_at = requested_at
        self.expires_at = expires_at

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuthToken) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__
        )

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self.__slots__))

    def __repr__(self) -> str:
        # The secret is left out so that a token can never reach a log by repr().
        return (
            f"AuthToken(user={self.user!r}, endpoint={self.endpoint!r}, "
            f"requested_at={self.requested_at!r}, expires_at={self.expires_at!r})"
        )

    def refresh_at(self, refresh_before: float | None = None) -> float:
        """When the token enters its refresh window.

        The window is the last half of its lifetime, or the last
        ``refresh_before`` seconds when configured (at most 90 % of the
        lifetime, so that a large setting cannot make every call refresh).

        C twin: packaging/fastpath.c refresh_at

        >>> AuthToken("AWS", "s", "e", 0.0, 100.0).refresh_at()
        50.0
        >>> AuthToken("AWS", "s", "e", 0.0, 100.0).refresh_at(10)
        90.0
        >>> AuthToken("AWS", "s", "e", 0.0, 100.0).refresh_at(1000)
        10.0
        """
        lifetime = self.expires_at - self.requested_at
        window = (
            lifetime * REFRESH_FRACTION
            if refresh_before is None
            else min(refresh_before, 0.9 * lifetime)
        )
        return self.expires_at - window

    def fresh(self, now: float, refresh_before: float | None = None) -> bool:
        """Tell whether the token is outside its refresh window.

        C twin: packaging/fastpath.c fresh

        >>> AuthToken("AWS", "s", "e", 0.0, 100.0).fresh(49.0)
        True
        >>> AuthToken("AWS", "s", "e", 0.0, 100.0).fresh(50.0)
        False
        """
        return now < self.refresh_at(refresh_before)

    def expired(self, now: float) -> bool:
        """Tell whether the token's expiry has passed by this host's clock."""
        return now >= self.expires_at

    def usable(self, now: float) -> bool:
        """Tell whether the token can still be served, allowing for clock skew.

        >>> AuthToken("AWS", "s", "e", 0.0, 1000.0).usable(699.0)
        True
        >>> AuthToken("AWS", "s", "e", 0.0, 1000.0).usable(700.0)
        False
        """
        return now < self.expires_at - CLOCK_SKEW


def expiry_of_password(password: str) -> float | None:
    """Return the expiry encoded in an ECR token password, or None when it has none.

    An ECR password is base64 of a JSON document whose ``expiration`` field is
    the expiry in Unix seconds; anything else yields None.

    >>> import base64
    >>> expiry_of_password(base64.b64encode(b'{"expiration": 1700000000}').decode())
    1700000000.0
    >>> expiry_of_password("hunter2") is None
    True
    """
    import base64
    import binascii
    import json

    try:
        raw = base64.b64decode(password + "=" * (-len(password) % 4), validate=True)
        document = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    expiration = document.get("expiration")
    if isinstance(expiration, bool) or not isinstance(expiration, int | float):
        return None
    try:
        value = float(expiration)
    except OverflowError:
        return None
    # Unix seconds between 1970 and the year 33658; rules out inf, nan and milliseconds mix-ups.
    return value if 0 < value < 1e12 else None
