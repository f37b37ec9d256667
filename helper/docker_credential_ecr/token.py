"""Pure: an ECR authorization token and the rules for when it may be served."""

from __future__ import annotations

# A token that is not fresh is refreshed; a token that is not usable is never
# served.  The skew margin covers a host clock that runs a little behind the
# registry's: a token that looks valid for two more minutes may already be
# refused.
CLOCK_SKEW = 300.0
# The response's Date has one-second resolution and arrives after a round trip: within
# this much this host's clock is taken as right, and the expiry as AWS stated it.
CLOCK_TOLERANCE = 5.0
DEFAULT_LIFETIME = 12 * 3600.0
# By default a token enters its refresh window when this fraction of its lifetime is left.
REFRESH_FRACTION = 0.5


class AuthToken:
    """Registry credentials with the time they were requested and the time they expire."""

    __slots__ = ("clock_offset", "endpoint", "expires_at", "requested_at", "secret", "user")
    # What a token is; clock_offset is how it was measured, known only to the process
    # that fetched it (the cache does not keep it).
    _IDENTITY = ("endpoint", "expires_at", "requested_at", "secret", "user")

    def __init__(
        self,
        user: str,
        secret: str,
        endpoint: str,
        requested_at: float,
        expires_at: float,
        clock_offset: float | None = None,
    ) -> None:
        self.user = user
        self.secret = secret
        self.endpoint = endpoint
        self.requested_at = requested_at
        self.expires_at = expires_at
        self.clock_offset = clock_offset  # AWS's clock minus this host's, when fetched

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuthToken) and all(
            getattr(self, n) == getattr(other, n) for n in self._IDENTITY
        )

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self._IDENTITY))

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


def local_expiry(
    expires_at: float, server_now: float | None, local_now: float
) -> tuple[float, float | None]:
    """A token's expiry on this host's clock, and AWS's clock's offset from it.

    AWS states the expiry on its own clock; its answer's Date says what that clock
    read.  On a host whose clock is off (a VM resumed from suspend, a boot before
    NTP) the lifetime, ``expires_at - server_now``, still holds: kept on this host's
    terms, the token lasts as long as it does on a host whose clock is right,
    instead of looking expired (a fetch on every call) or lasting too long.

    >>> local_expiry(43200.0, 0.0, 46800.0)  # this host 13 h ahead
    (90000.0, -46800.0)
    >>> local_expiry(43200.0, 1.0, 0.0)  # within the Date's resolution: as stated
    (43200.0, 1.0)
    >>> local_expiry(43200.0, None, 46800.0)  # no Date: nothing to measure by
    (43200.0, None)
    """
    if server_now is None:
        return expires_at, None
    offset = server_now - local_now
    if abs(offset) <= CLOCK_TOLERANCE:
        return expires_at, offset
    return expires_at - offset, offset


def describe_offset(offset: float) -> str:
    """An offset of AWS's clock from this host's, as the sentence that says which is ahead.

    >>> describe_offset(-46800.0)
    "this host's clock is 13h00m ahead of AWS's"
    >>> describe_offset(90.4)
    "this host's clock is 1m30s behind AWS's"
    >>> describe_offset(21599.4)  # to the minute, beyond an hour
    "this host's clock is 6h00m behind AWS's"
    """
    seconds = round(abs(offset))
    if seconds >= 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        amount = f"{hours}h{minutes:02d}m"
    else:
        amount = f"{seconds // 60}m{seconds % 60:02d}s"
    return f"this host's clock is {amount} {'ahead of' if offset < 0 else 'behind'} AWS's"


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
