"""Pure parsing of a Docker server URL into the ECR registry it names, if any."""

from __future__ import annotations

# Partition DNS suffixes of ECR registry hosts.  IPv4-only hosts use the
# ``dkr.ecr`` labels under ``amazonaws``-style suffixes; dual-stack hosts use the
# ``dkr-ecr`` label under ``on.aws``-style ones.  Parsing is by hand, not with
# ``re``, because this runs on every cache hit and ``re`` is not free to import.
IPV4_SUFFIXES = frozenset(
    {
        "amazonaws.com",
        "amazonaws.com.cn",
        "amazonaws.eu",
        "c2s.ic.gov",
        "sc2s.sgov.gov",
        "cloud.adc-e.uk",
        "csp.hci.ic.gov",
    }
)
DUALSTACK_SUFFIXES = frozenset({"on.aws", "on.amazonwebservices.com.cn"})
ACCOUNT_DIGITS = 12
REGION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class Form:
    """A private registry's host form: ``<account>.<labels>.<region>.<suffix>``."""

    __slots__ = ("dualstack", "fips", "labels", "prefix", "suffixes")

    def __init__(self, labels: tuple[str, ...], *, fips: bool, dualstack: bool) -> None:
        self.labels = labels
        self.fips = fips
        self.dualstack = dualstack
        # Matched as one string: no list of labels to build for each host, here or in C.
        self.prefix = "".join(label + "." for label in labels)
        self.suffixes = DUALSTACK_SUFFIXES if dualstack else IPV4_SUFFIXES

    def __repr__(self) -> str:
        return f"Form({self.labels!r}, fips={self.fips!r}, dualstack={self.dualstack!r})"


# The one list of private host forms: parse, the kubelet's matchImages, the launcher's
# native path (packaging/gen_rules.py) and the tests all take them from here.
FORMS = (
    Form(("dkr", "ecr"), fips=False, dualstack=False),
    Form(("dkr", "ecr-fips"), fips=True, dualstack=False),
    Form(("dkr-ecr",), fips=False, dualstack=True),
    Form(("dkr-ecr-fips",), fips=True, dualstack=True),
)

PUBLIC_HOSTS = frozenset({"public.ecr.aws", "ecr-public.aws.com"})
PUBLIC_REGION = "us-east-1"


class Registry:
    """An ECR registry: private (account and region from the host) or ECR Public."""

    __slots__ = ("account", "dualstack", "fips", "host", "public", "region", "suffix")

    def __init__(
        self,
        host: str,
        *,
        account: str = "",
        region: str = PUBLIC_REGION,
        suffix: str = "",
        fips: bool = False,
        dualstack: bool = False,
        public: bool = False,
    ) -> None:
        self.host = host
        self.account = account
        self.region = region
        self.suffix = suffix
        self.fips = fips
        self.dualstack = dualstack
        self.public = public

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registry) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Registry({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"


def authority_of(server_url: str) -> str:
    """Return ``host[:port]`` of a server URL or image reference, as given.

    No scheme, credentials or path: what precedes the first ``/`` after the scheme.

    C twin: packaging/fastpath.c authority_of

    >>> authority_of("https://u@Example.com:5000/v2/x")
    'Example.com:5000'
    """
    rest = server_url.strip()
    scheme_end = rest.find("://")
    if scheme_end != -1:
        rest = rest[scheme_end + 3 :]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1]


def host_of(server_url: str) -> str:
    """Return the lower-cased host of a server URL, without scheme, credentials, port or path.

    C twin: packaging/fastpath.c host_of

    >>> host_of(" HTTPS://123456789012.dkr.ecr.us-east-1.amazonaws.com:443/v2/ ")
    '123456789012.dkr.ecr.us-east-1.amazonaws.com'
    >>> host_of("localhost:5000")
    'localhost'
    """
    rest = authority_of(server_url)
    if rest.startswith("["):
        return rest.split("]", 1)[0] + "]" if "]" in rest else rest
    return rest.split(":", 1)[0].rstrip(".").lower()


def parse(server_url: str) -> Registry | None:
    """Return the ECR registry a server URL names, or None when it is not ECR.

    C twin: packaging/fastpath.c parse

    >>> parse("public.ecr.aws").public
    True
    >>> parse("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example") is None
    True
    """
    host = host_of(server_url)
    if host in PUBLIC_HOSTS:
        return Registry(host, public=True)
    account, _, rest = host.partition(".")
    if len(account) != ACCOUNT_DIGITS or not account.isdigit():
        return None
    for form in FORMS:
        if not rest.startswith(form.prefix):
            continue
        region, _, dns_suffix = rest[len(form.prefix) :].partition(".")
        if dns_suffix in form.suffixes and is_region(region):
            return Registry(
                host,
                account=account,
                region=region,
                suffix=dns_suffix,
                fips=form.fips,
                dualstack=form.dualstack,
            )
    return None


def private_forms() -> list[tuple[Form, str]]:
    """Every (form, DNS suffix) a private registry's host may have: IPv4 first, by suffix."""
    return [
        (form, suffix)
        for suffixes in (IPV4_SUFFIXES, DUALSTACK_SUFFIXES)
        for suffix in sorted(suffixes)
        for form in FORMS
        if form.suffixes is suffixes
    ]


def is_region(label: str) -> bool:
    """Tell whether a DNS label is shaped like an AWS region name (``us-gov-west-1``).

    C twin: packaging/fastpath.c is_region
    """
    return (
        "-" in label
        and not label.startswith("-")
        and not label.endswith("-")
        and REGION_CHARS.issuperset(label)
    )
