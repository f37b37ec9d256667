"""Copy this machine's locally added trust anchors into DIR, one ``.crt`` file each.

Local anchors are the certificates in the system bundle that Debian's ca-certificates
package does not ship (an intercepting proxy's CA, a company CA).  A root made with
debootstrap needs them to reach the same servers this machine reaches.

Usage: python3 scripts/lib/extra_anchors.py DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SHIPPED = Path("/usr/share/ca-certificates")
PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)


def certificates(text: str) -> list[str]:
    """Every PEM certificate in ``text``, as written."""
    return PEM.findall(text)


def local_anchors(bundle: str, shipped: list[str]) -> list[str]:
    """The certificates of ``bundle`` that none of the ``shipped`` files holds.

    >>> a = "-----BEGIN CERTIFICATE-----\\nAA\\n-----END CERTIFICATE-----"
    >>> b = a.replace("AA", "BB")
    >>> local_anchors(a + "\\n" + b, [a]) == [b]
    True
    """
    known = {"".join(c.split()) for text in shipped for c in certificates(text)}
    return [c for c in certificates(bundle) if "".join(c.split()) not in known]


def main(argv: list[str]) -> int:
    """Write the local anchors into ``argv[1]``."""
    if not BUNDLE.exists():
        return 0
    shipped = [p.read_text() for p in SHIPPED.rglob("*.crt")]
    anchors = local_anchors(BUNDLE.read_text(), shipped)
    target = Path(argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for number, anchor in enumerate(anchors):
        (target / f"this-machine-{number}.crt").write_text(anchor + "\n")
    print(f"   {len(anchors)} local trust anchor(s) of this machine copied")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
