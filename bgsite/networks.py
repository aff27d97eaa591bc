"""IP networks that settings name as comma-separated CIDRs, and whether an address is in one.

bgsite/settings.py parses each list once, so a bad CIDR stops the process at start with the
setting's name. removal.fetch matches the addresses it would connect to against
FETCH_ALLOWED_NETWORKS; removal.ops.health matches a scraper's address against
METRICS_ALLOWED_NETWORKS.
"""

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> list[IPNetwork]:
    """Networks such as `10.1.2.0/24` (host bits are dropped), skipping blanks; ValueError names a bad one."""
    return [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip()]


def in_networks(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in networks if network.version == address.version)


def client_address(remote_addr: str) -> IPAddress | None:
    """A request's REMOTE_ADDR as an address, None when it is not one (e.g. a Unix socket).

    A dual-stack socket reports an IPv4 client as `::ffff:10.1.2.3`: that is judged as 10.1.2.3.
    Only this form is unwrapped: unlike an address being fetched (removal.fetch), a client's
    6to4 or NAT64 address is its own IPv6 address, not a claim to come from the IPv4 one inside.
    """
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def origin(url: str) -> str:
    """scheme://host[:port] of `url`, never its user name or password: what a Content-Security-Policy source or an
    Origin header names, and what a log line may say of a URL whose rest may be a secret. ValueError for a port that
    is not a number."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    return f"{parts.scheme}://{address}{f':{parts.port}' if parts.port else ''}"
