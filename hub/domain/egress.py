"""The egress policy: which destinations a tenant's outbound calls may reach (issue 12).

Pure rules, no I/O: the caller resolves the name and connects to the address chosen
here. Every destination a tenant can aim (HTTP activities, webhooks, SMTP; later ERP
connections, MQTT brokers, partner hubs) goes through `EgressPolicy.choose`.

* Addresses are judged AFTER name resolution, so `localhost`, `2130706433`, `0x7f.1` and
  `[::ffff:127.0.0.1]` are all the loopback address they resolve to.
* Public addresses are allowed. Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10,
  fc00::/7, ...) are allowed where the platform's list (`HUB_EGRESS_ALLOW`) opens them.
* Loopback, link-local, multicast, unspecified and reserved addresses (and their
  IPv4-mapped, 6to4, NAT64 and Teredo forms) are opened only by an entry of that very
  kind (`127.0.0.1`, `[::1]:8080`, `169.254.10.0/24`), never by a broad one such as
  `0.0.0.0/0`; cloud-metadata addresses only by an entry naming that address.
* A host-name entry (`erp.local:443`, `*.plant.local`) opens whatever that name resolves
  to: the platform admin trusts that name's DNS.
* A tenant narrows that (deny entries; `only_listed`: nothing but its allow entries) and
  may list entries within it; its entries never open what the platform list does not.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from hub.domain.errors import FieldProblem, ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "HUB_EGRESS_ALLOW"
MODES = ("inherit", "only_listed")
MAX_ENTRIES = 100
HINT = f"allow it with {SETTING} or the tenant's egress rules"


class EgressRuleError(ValueError):
    """An allow or deny entry that cannot be parsed."""


class EgressRefused(Exception):
    """The policy refuses the destination; retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"egress refused: {reason}")
        self.reason = reason


class Category(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    RESERVED = "reserved"
    MULTICAST = "multicast"
    LINK_LOCAL = "link-local"
    LOOPBACK = "loopback"
    UNSPECIFIED = "unspecified"
    METADATA = "cloud metadata"


_STRICTNESS = list(Category)  # later is stricter


def strictest(categories: Iterable[Category]) -> Category:
    return max(categories, key=_STRICTNESS.index, default=Category.PUBLIC)


def _nets(*texts: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


# Metadata services of the clouds: the credentials of the machine the hub runs on.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address)
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)

# Ranges in priority order; what none of them holds is public.
_RANGES: tuple[tuple[IPNetwork, Category], ...] = (
    *((n, Category.UNSPECIFIED) for n in _nets("0.0.0.0/8", "::/128")),
    *((n, Category.LOOPBACK) for n in _nets("127.0.0.0/8", "::1/128")),
    *((n, Category.LINK_LOCAL) for n in _nets("169.254.0.0/16", "fe80::/10")),
    *((n, Category.MULTICAST) for n in _nets("224.0.0.0/4", "ff00::/8")),
    # 240/4 holds the broadcast address; ::/8 the IPv4-compatible and other old forms
    *((n, Category.RESERVED) for n in _nets("240.0.0.0/4", "::/8", "100::/64")),
    *(
        (n, Category.PRIVATE)
        for n in _nets(
            "10.0.0.0/8",
            "100.64.0.0/10",  # carrier-grade NAT
            "172.16.0.0/12",
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation (and the two below)
            "198.51.100.0/24",
            "203.0.113.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",  # benchmarking
            "fc00::/7",  # unique local
            "fec0::/10",  # site-local (deprecated)
            "2001:db8::/32",  # documentation
        )
    ),
)

# IPv6 forms that carry an IPv4 address: judged by the address they carry.
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = _nets("64:ff9b::/96", "64:ff9b:1::/48")
_EMBEDDING = (_MAPPED, *_NAT64, *_nets("2002::/16", "2001::/32"))


def parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv4-mapped, 6to4, NAT64 or Teredo address stands for."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if any(address in net for net in _NAT64):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.teredo is not None:
        return address.teredo
    return ()


def classify(address: IPAddress) -> Category:
    if address in METADATA_ADDRESSES:
        return Category.METADATA
    inner = embedded_ipv4(address)
    if inner:
        return strictest(classify(a) for a in inner)
    for network, category in _RANGES:
        if address.version == network.version and address in network:
            return category
    return Category.PUBLIC


def name_category(host: str) -> Category | None:
    """What a name is known to be without asking DNS (RFC 6761 `localhost`, metadata)."""
    if host in METADATA_NAMES:
        return Category.METADATA
    if host == "localhost" or host.endswith(".localhost"):
        return Category.LOOPBACK
    return None


def _holds(outer: IPNetwork, inner: IPNetwork) -> bool:
    """`outer.supernet_of(inner)` for networks of one IP version; False across versions."""
    if isinstance(outer, ipaddress.IPv4Network) and isinstance(inner, ipaddress.IPv4Network):
        return outer.supernet_of(inner)
    if isinstance(outer, ipaddress.IPv6Network) and isinstance(inner, ipaddress.IPv6Network):
        return outer.supernet_of(inner)
    return False


def network_category(network: IPNetwork) -> Category | None:
    """The kind of every address of `network`, or None when it mixes kinds."""
    if network.num_addresses == 1:
        return classify(network.network_address)
    if any(_holds(n, network) for n in _EMBEDDING):
        first, last = classify(network[0]), classify(network[-1])
        return first if first == last else None
    holders = [(n, c) for n, c in _RANGES if _holds(n, network)]
    if holders:
        return holders[0][1]
    overlaps = [n for n, _ in _RANGES if n.version == network.version and n.overlaps(network)]
    overlaps += [n for n in _EMBEDDING if n.version == network.version and n.overlaps(network)]
    if overlaps or any(a in network for a in METADATA_ADDRESSES):
        return None
    return Category.PUBLIC


# --- entries: "10.0.0.0/8", "127.0.0.1:4005", "[::1]:8080", "erp.local:443", "*.plant.local"


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_RE = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")
_IPV4_RE = re.compile(r"^[0-9.]+(?:/[0-9]+)?$")


@dataclass(frozen=True)
class EgressEntry:
    """A destination: a network or a host name (`*.` for any name under it), and a port
    (None: any port)."""

    network: IPNetwork | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        if self.host is not None:
            return self.host + port
        assert self.network is not None
        net = self.network
        text = str(net.network_address) if net.num_addresses == 1 else str(net)
        if net.version == 6 and port:
            return f"[{text}]{port}"
        return text + port

    def port_matches(self, port: int) -> bool:
        return self.port is None or self.port == port

    def host_matches(self, host: str) -> bool:
        if self.host is None:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def holds(self, address: IPAddress) -> bool:
        if self.network is None:
            return False
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        candidates = (address, mapped) if mapped is not None else (address,)
        return any(a.version == self.network.version and a in self.network for a in candidates)

    def matches(self, host: str, address: IPAddress | None, port: int) -> bool:
        if not self.port_matches(port):
            return False
        return self.host_matches(host) or (address is not None and self.holds(address))


def normal_host(host: str) -> str:
    """Lower case, without brackets or the root's trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def _port(text: str, raw: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise EgressRuleError(f"{raw!r}: the port must be a number from 1 to 65535")
    return int(text)


def _network(text: str, raw: str) -> IPNetwork:
    if "%" in text:
        raise EgressRuleError(f"{raw!r}: leave out the zone (%...)")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise EgressRuleError(f"{raw!r}: {exc}") from None


def parse_entry(text: str) -> EgressEntry:
    raw = text.strip()
    if not raw:
        raise EgressRuleError("an empty entry")
    if raw.startswith("["):
        inner, close, rest = raw[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise EgressRuleError(f"{raw!r}: write IPv6 as [address]:port or [network]")
        network = _network(inner, raw)
        return EgressEntry(network=network, port=_port(rest[1:], raw) if rest else None)
    if raw.count(":") >= 2:  # a bare IPv6 address or network, no port
        return EgressEntry(network=_network(raw, raw))
    host, colon, port_text = raw.rpartition(":") if ":" in raw else (raw, "", "")
    port = _port(port_text, raw) if colon else None
    if _IPV4_RE.match(host) and host.count(".") == 3:
        return EgressEntry(network=_network(host, raw), port=port)
    name = normal_host(host)
    if not _HOST_RE.match(name) or len(name) > 253:
        raise EgressRuleError(f"{raw!r} is not a host name, IP address or CIDR network")
    try:
        socket.inet_aton(name)  # pure parsing: "2130706433", "0x7f.1", "127.1" are IPv4
    except OSError:
        return EgressEntry(host=name, port=port)
    raise EgressRuleError(f"{raw!r}: write an IPv4 address as four decimal numbers (a.b.c.d)")


def parse_allow_list(text: str) -> tuple[EgressEntry, ...]:
    """`HUB_EGRESS_ALLOW`: comma-separated entries; empty parts are skipped."""
    return tuple(parse_entry(part) for part in text.split(",") if part.strip())


# --- the policy ---


@dataclass(frozen=True)
class TenantEgress:
    """A tenant's own rules: `deny` always wins; `only_listed` allows nothing but `allow`."""

    mode: str = "inherit"
    allow: tuple[EgressEntry, ...] = ()
    deny: tuple[EgressEntry, ...] = ()


def _where(host: str, address: IPAddress | None, port: int) -> str:
    shown = f"{host} ({address})" if address is not None and host != str(address) else host
    return f"{shown} (port {port})"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class EgressPolicy:
    platform: tuple[EgressEntry, ...] = ()
    tenant: TenantEgress = TenantEgress()

    def refuse_name(self, host: str, port: int) -> str | None:
        """A refusal known from the name alone (before asking DNS), or None."""
        host = normal_host(host)
        if any(e.port_matches(port) and e.host_matches(host) for e in self.tenant.deny):
            return f"{host} (port {port}) is denied by the tenant's egress rules"
        if name_category(host) is Category.METADATA and not self._named(host, port):
            return f"{host} is {Category.METADATA} (port {port}); {HINT}"
        return None

    def choose(self, host: str, port: int, addresses: Sequence[str]) -> str:
        """The first resolved address the policy allows: connect to that one and no
        other (no second lookup that DNS could answer differently). Raises EgressRefused
        naming the first address's reason when none is allowed."""
        host = normal_host(host)
        early = self.refuse_name(host, port)
        if early is not None:
            raise EgressRefused(early)
        reasons: list[str] = []
        for text in dict.fromkeys(addresses):
            address = parse_address(text)
            reason = self.refusal(host, address, port)
            if reason is None:
                return text
            reasons.append(reason)
        raise EgressRefused(reasons[0] if reasons else f"{host} has no address")

    def refusal(self, host: str, address: IPAddress, port: int) -> str | None:
        """Why `address` (resolved from `host`) may not be reached on `port`, or None."""
        where = _where(host, address, port)
        if any(e.matches(host, address, port) for e in self.tenant.deny):
            return f"{where} is denied by the tenant's egress rules"
        if self.tenant.mode == "only_listed" and not any(
            e.matches(host, address, port) for e in self.tenant.allow
        ):
            return f"{where} is not in the tenant's egress list"
        category = strictest([classify(address), name_category(host) or Category.PUBLIC])
        if category is Category.PUBLIC or self._opens(host, address, port, category):
            return None
        shown = f"{host} ({address})" if host != str(address) else host
        return f"{shown} is {category} (port {port}); {HINT}"

    def _named(self, host: str, port: int) -> bool:
        return not _is_address(host) and any(
            e.port_matches(port) and e.host_matches(host) for e in self.platform
        )

    def _opens(self, host: str, address: IPAddress, port: int, category: Category) -> bool:
        if self._named(host, port):
            return True
        return any(
            e.network is not None
            and e.port_matches(port)
            and e.holds(address)
            and (category is Category.PRIVATE or network_category(e.network) is category)
            for e in self.platform
        )


# --- a tenant's rules as the API takes them ---


def tenant_rules(
    platform: Sequence[EgressEntry], mode: str, allow: Sequence[str], deny: Sequence[str]
) -> TenantEgress:
    """Parse and check a tenant's rules; raises ValidationFailed naming each bad entry.

    An allow entry must lie within what the platform allows: public, or opened by a
    platform entry that holds all of it (`10.1.2.3:502` within `10.0.0.0/8`).
    """
    problems: list[FieldProblem] = []
    if mode not in MODES:
        problems.append(FieldProblem("mode", f"must be one of {', '.join(MODES)}"))
    parsed: dict[str, list[EgressEntry]] = {"allow": [], "deny": []}
    for name, texts in (("allow", allow), ("deny", deny)):
        if len(texts) > MAX_ENTRIES:
            problems.append(FieldProblem(name, f"at most {MAX_ENTRIES} entries"))
            continue
        for index, text in enumerate(texts):
            try:
                entry = parse_entry(text)
            except EgressRuleError as exc:
                problems.append(FieldProblem(f"{name}[{index}]", str(exc)))
                continue
            if name == "allow" and (beyond := _beyond(platform, entry)):
                problems.append(FieldProblem(f"{name}[{index}]", beyond))
            parsed[name].append(entry)
    if problems:
        raise ValidationFailed(problems)
    return TenantEgress(mode, tuple(parsed["allow"]), tuple(parsed["deny"]))


def _beyond(platform: Sequence[EgressEntry], entry: EgressEntry) -> str | None:
    """Why a tenant's allow entry reaches beyond the platform's list, or None."""
    beyond = f"{entry} reaches beyond the platform's allow list ({SETTING})"
    if entry.host is not None:
        category = name_category(entry.host.removeprefix("*."))
        if category is None:
            return None  # judged by what it resolves to, each time it is used
        named = any(p.host is not None and _host_within(p, entry) for p in platform)
        by_range = any(
            p.network is not None
            and network_category(p.network) is category
            and (p.port is None or p.port == entry.port)
            for p in platform
        )
        return None if named or by_range else f"{beyond}: {entry.host} is {category}"
    assert entry.network is not None
    category = network_category(entry.network)
    if category is Category.PUBLIC:
        return None
    for p in platform:
        if (
            p.network is not None
            and _holds(p.network, entry.network)
            and (p.port is None or p.port == entry.port)
            and (category in (Category.PRIVATE, None) or network_category(p.network) is category)
        ):
            return None
    return f"{beyond}: {entry.network} is {category or 'partly not public'}"


def _host_within(platform: EgressEntry, entry: EgressEntry) -> bool:
    assert platform.host is not None and entry.host is not None
    if platform.port is not None and platform.port != entry.port:
        return False
    if entry.host.startswith("*."):
        return platform.host.startswith("*.") and entry.host.endswith(platform.host[1:])
    return platform.host_matches(entry.host)


# --- destinations named in data (notification channels) ---


@dataclass(frozen=True)
class Target:
    field: str  # the channel's key that names it
    host: str
    port: int


DEFAULT_PORTS = {"http": 80, "https": 443}


def channel_target(channel: Mapping[str, Any]) -> Target | None:
    """Where a notification channel connects, or None when it names no destination."""
    kind = channel.get("type")
    if kind == "webhook" and isinstance(channel.get("url"), str):
        try:
            parts = urlsplit(channel["url"])
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return Target("url", normal_host(parts.hostname), port or DEFAULT_PORTS[parts.scheme])
    if kind == "email" and isinstance(channel.get("host"), str):
        port = channel.get("port", 25)
        return Target("host", normal_host(channel["host"]), port if isinstance(port, int) else 25)
    return None


# --- what is stored per tenant ---


@dataclass(frozen=True)
class StoredRules:
    """A tenant's rules as stored: entries in their canonical text."""

    tenant_id: str
    mode: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    updated_at: datetime
    updated_by: str

    def parsed(self) -> TenantEgress:
        return TenantEgress(
            self.mode,
            tuple(parse_entry(t) for t in self.allow),
            tuple(parse_entry(t) for t in self.deny),
        )
