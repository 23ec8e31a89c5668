"""Who signed a certificate this machine does not trust — and when that is evidence of TLS inspection.

"Interception" is an accusation about the user's network, so it is concluded from evidence only:
an issuer that names a known TLS-inspection product (the re-signing CA of a corporate proxy,
firewall or antivirus). A chain that merely does not lead to a trusted CA is said to be exactly
that — a private CA, inspection, or a server that does not send its intermediate certificate — and
a healthy chain from an unfamiliar issuer is never accused: the issuer's organisation name alone
decides nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Products that re-sign https traffic with a CA of their own, as their CAs name themselves
#: (lower case, matched as words inside the issuer's CN, O or OU).
INSPECTION_PRODUCTS = {
    "zscaler": "Zscaler",
    "netskope": "Netskope",
    "palo alto": "Palo Alto Networks",
    "fortinet": "Fortinet",
    "fortigate": "FortiGate",
    "sophos": "Sophos",
    "blue coat": "Blue Coat",
    "bluecoat": "Blue Coat",
    "cisco umbrella": "Cisco Umbrella",
    "forcepoint": "Forcepoint",
    "websense": "Websense",
    "check point": "Check Point",
    "checkpoint": "Check Point",
    "kaspersky": "Kaspersky",
    "eset ssl filter": "ESET",
    "avast": "Avast",
    "avg web/mail shield": "AVG",
    "bitdefender": "Bitdefender",
    "mcafee web gateway": "McAfee Web Gateway",
    "skyhigh": "Skyhigh Security",
    "barracuda": "Barracuda",
    "menlo security": "Menlo Security",
    "iboss": "iboss",
    "lightspeed": "Lightspeed Systems",
    "securly": "Securly",
    "goguardian": "GoGuardian",
    "contentkeeper": "ContentKeeper",
    "untangle": "Untangle",
    "mitmproxy": "mitmproxy",
}


def inspection_product(names: Iterable[str | None]) -> str | None:
    """The inspection product an issuer's names show, or None when they show none."""
    text = " ".join(n for n in names if n).lower()
    return next((product for word, product in INSPECTION_PRODUCTS.items() if word in text), None)


def untrusted_reason(names: Iterable[str | None], self_signed: bool) -> str:
    """Why an unverified chain fails, worded from the evidence (never "interception" without it)."""
    product = inspection_product(names)
    if product:
        return f"TLS inspection by {product}: it re-signs https traffic with its own CA"
    if self_signed:
        return (
            "a self-signed CA this machine does not trust (a private mirror's CA, or TLS inspection "
            "by a proxy or firewall)"
        )
    return (
        "a CA this machine does not trust (a private CA, TLS inspection, or a server that does not "
        "send its intermediate certificate)"
    )
