"""The egress policy's pure rules (hub/domain/egress.py): no I/O, no DNS, no sockets."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hub.domain.egress import (
    Category,
    EgressPolicy,
    EgressRefused,
    EgressRuleError,
    TenantEgress,
    channel_target,
    classify,
    parse_allow_list,
    parse_entry,
    tenant_rules,
)
from hub.domain.errors import ValidationFailed


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rules decide from what they are given: any lookup or connection fails here."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pure egress rules used the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield


def policy(allow: str = "", tenant: TenantEgress | None = None) -> EgressPolicy:
    return EgressPolicy(parse_allow_list(allow), tenant or TenantEgress())


def refused(p: EgressPolicy, host: str, port: int, *addresses: str) -> str:
    with pytest.raises(EgressRefused) as caught:
        p.choose(host, port, list(addresses))
    return str(caught.value)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", Category.LOOPBACK),
        ("127.255.0.9", Category.LOOPBACK),
        ("::1", Category.LOOPBACK),
        ("::ffff:127.0.0.1", Category.LOOPBACK),  # IPv4-mapped
        ("2002:7f00:1::1", Category.LOOPBACK),  # 6to4 of 127.0.0.1
        ("64:ff9b::7f00:1", Category.LOOPBACK),  # NAT64 of 127.0.0.1
        ("64:ff9b:1::a9fe:a9fe", Category.METADATA),  # local-use NAT64 of 169.254.169.254
        ("169.254.169.254", Category.METADATA),
        ("::ffff:169.254.169.254", Category.METADATA),
        ("fd00:ec2::254", Category.METADATA),
        ("100.100.100.200", Category.METADATA),
        ("168.63.129.16", Category.METADATA),
        ("169.254.10.1", Category.LINK_LOCAL),
        ("fe80::1", Category.LINK_LOCAL),
        ("0.0.0.0", Category.UNSPECIFIED),
        ("::", Category.UNSPECIFIED),
        ("::ffff:0.0.0.0", Category.UNSPECIFIED),
        ("224.0.0.1", Category.MULTICAST),
        ("ff02::1", Category.MULTICAST),
        ("255.255.255.255", Category.RESERVED),
        ("10.1.2.3", Category.PRIVATE),
        ("172.16.0.1", Category.PRIVATE),
        ("192.168.1.1", Category.PRIVATE),
        ("100.64.0.1", Category.PRIVATE),
        ("fd12:3456::1", Category.PRIVATE),
        ("2002:a01:203::1", Category.PRIVATE),  # 6to4 of 10.1.2.3
        ("93.184.216.34", Category.PUBLIC),
        ("2606:4700::1111", Category.PUBLIC),
        ("2002:5db8:d822::1", Category.PUBLIC),  # 6to4 of a public address
    ],
)
def test_addresses_are_classified_with_their_embedded_forms(
    address: str, category: Category
) -> None:
    assert classify(ipaddress.ip_address(address)) is category


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # what the resolver makes of these
        ("0x7f.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("localhost", "::1"),
        ("rebound.example.com", "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("metadata.google.internal", "169.254.169.254"),
    ],
)
def test_loopback_and_metadata_are_refused_by_default(host: str, address: str) -> None:
    message = refused(policy(), host, 80, address)
    assert message.startswith("egress refused: ")
    assert "allow it with HUB_EGRESS_ALLOW or the tenant's egress rules" in message


def test_refusal_names_the_host_its_address_and_why() -> None:
    assert refused(policy(), "127.0.0.1", 8080, "127.0.0.1") == (
        "egress refused: 127.0.0.1 is loopback (port 8080); "
        "allow it with HUB_EGRESS_ALLOW or the tenant's egress rules"
    )
    assert "localhost (127.0.0.1) is loopback" in refused(policy(), "localhost", 80, "127.0.0.1")


def test_public_addresses_are_allowed_by_default() -> None:
    assert policy().choose("example.com", 443, ["93.184.216.34"]) == "93.184.216.34"


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.5.4", "192.168.1.1", "fd12::1"])
def test_private_ranges_only_where_allowed(address: str) -> None:
    assert "is private" in refused(policy(), "plc", 502, address)
    opened = policy("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7")
    assert opened.choose("plc", 502, [address]) == address


def test_an_entry_with_a_port_opens_that_port_only() -> None:
    p = policy("127.0.0.1:4005,10.0.0.0/8:502")
    assert p.choose("127.0.0.1", 4005, ["127.0.0.1"]) == "127.0.0.1"
    assert p.choose("localhost", 4005, ["127.0.0.1"]) == "127.0.0.1"
    refused(p, "127.0.0.1", 4006, "127.0.0.1")
    assert p.choose("10.1.2.3", 502, ["10.1.2.3"]) == "10.1.2.3"
    refused(p, "10.1.2.3", 80, "10.1.2.3")


def test_ipv4_entries_cover_ipv4_mapped_addresses() -> None:
    p = policy("127.0.0.1:4005")
    assert p.choose("::ffff:127.0.0.1", 4005, ["::ffff:127.0.0.1"]) == "::ffff:127.0.0.1"


def test_broad_entries_open_private_ranges_but_not_loopback_or_link_local() -> None:
    p = policy("0.0.0.0/0,::/0")
    assert p.choose("x", 80, ["10.1.2.3"]) == "10.1.2.3"
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1"):
        refused(p, "x", 80, address)


def test_metadata_needs_an_entry_naming_that_address() -> None:
    p = policy("169.254.0.0/16,fc00::/7,100.64.0.0/10")
    assert p.choose("x", 80, ["169.254.1.1"]) == "169.254.1.1"  # link-local: opened
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        assert "is cloud metadata" in refused(p, "x", 80, address)
    exact = policy("169.254.169.254")
    assert exact.choose("x", 80, ["169.254.169.254"]) == "169.254.169.254"


def test_metadata_names_are_refused_before_any_lookup() -> None:
    assert policy().refuse_name("Metadata.Google.Internal.", 80) is not None
    assert policy("metadata.google.internal:80").refuse_name("metadata.google.internal", 80) is None


def test_a_host_entry_opens_what_that_name_resolves_to() -> None:
    p = policy("erp.local:443,*.plant.local")
    assert p.choose("ERP.local.", 443, ["10.1.2.3"]) == "10.1.2.3"
    refused(p, "erp.local", 80, "10.1.2.3")
    refused(p, "other.local", 443, "10.1.2.3")
    assert p.choose("press-1.plant.local", 502, ["192.168.7.7"]) == "192.168.7.7"
    refused(p, "plant.local", 502, "192.168.7.7")
    refused(p, "10.1.2.3", 443, "10.1.2.3")  # the address itself is not the name


def test_the_first_allowed_address_is_the_one_to_connect_to() -> None:
    assert policy().choose("x", 80, ["127.0.0.1", "93.184.216.34"]) == "93.184.216.34"
    assert "is loopback" in refused(policy(), "x", 80, "127.0.0.1", "::1")


def test_tenant_deny_wins_and_only_listed_allows_nothing_else() -> None:
    deny = TenantEgress(deny=(parse_entry("93.184.216.0/24"), parse_entry("bad.example.com")))
    p = policy("10.0.0.0/8", deny)
    assert "denied by the tenant" in refused(p, "x", 443, "93.184.216.34")
    assert p.refuse_name("bad.example.com", 443) is not None
    only = TenantEgress("only_listed", allow=(parse_entry("10.1.2.3:502"),))
    p = policy("10.0.0.0/8", only)
    assert p.choose("plc", 502, ["10.1.2.3"]) == "10.1.2.3"
    assert "not in the tenant's egress list" in refused(p, "x", 443, "93.184.216.34")
    assert "not in the tenant's egress list" in refused(p, "plc", 503, "10.1.2.3")


def test_tenant_entries_never_open_what_the_platform_does_not() -> None:
    only = TenantEgress("only_listed", allow=(parse_entry("127.0.0.1"), parse_entry("10.0.0.0/8")))
    p = policy("", only)
    assert "is loopback" in refused(p, "x", 80, "127.0.0.1")
    assert "is private" in refused(p, "x", 80, "10.1.2.3")


# --- HUB_EGRESS_ALLOW entries ---


def test_allow_list_entries_in_canonical_form() -> None:
    text = (
        "127.0.0.1:4005, 10.0.0.0/8,erp.local:443,[::1]:8080,fd00::/8,*.Plant.Local,,"
        "[fd00::/16]:502"
    )
    assert [str(e) for e in parse_allow_list(text)] == [
        "127.0.0.1:4005",
        "10.0.0.0/8",
        "erp.local:443",
        "[::1]:8080",
        "fd00::/8",
        "*.plant.local",
        "[fd00::/16]:502",
    ]


@pytest.mark.parametrize(
    "entry",
    ["2130706433", "0x7f.1", "127.1", "10.1.2.3/8", "127.0.0.1:0", "127.0.0.1:70000",
     "[::1", "[::1]8080", "a b", "*", "host:port", "::1%eth0", "300.1.1.1", "http://x",
     "10.0.0.1:\u00b2", "\u0661.\u0662.\u0663.\u0664", "h\u00e9.local", "[" + "f" * 300 + "]"],
)  # fmt: skip
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(EgressRuleError):
        parse_entry(entry)


# --- a tenant's rules within the platform's list ---


def test_tenant_allow_entries_within_the_platform_list_pass() -> None:
    platform = parse_allow_list("10.0.0.0/8,127.0.0.1:4005")
    rules = tenant_rules(
        platform, "only_listed", ["10.1.2.3:502", "10.2.0.0/16", "127.0.0.1:4005", "8.8.8.8:53",
                                  "erp.example.com:443"], ["10.9.0.0/16"],
    )  # fmt: skip
    assert str(rules.allow[0]) == "10.1.2.3:502" and rules.mode == "only_listed"
    assert [str(e) for e in rules.deny] == ["10.9.0.0/16"]


def test_tenant_allow_entries_beyond_the_platform_list_are_422() -> None:
    platform = parse_allow_list("10.0.0.0/8:502,0.0.0.0/0:8443")
    with pytest.raises(ValidationFailed) as caught:
        tenant_rules(
            platform, "inherit",
            ["10.1.2.3:502", "10.1.2.3:503", "10.1.2.3", "192.168.1.0/24:502", "127.0.0.1:8443",
             "localhost:8443", "169.254.169.254:8443", "not an entry"], [],
        )  # fmt: skip
    fields = [p.field for p in caught.value.problems]
    assert fields == [f"allow[{i}]" for i in range(1, 8)]
    assert "beyond the platform's allow list (HUB_EGRESS_ALLOW)" in caught.value.problems[0].message


def test_tenant_mode_must_be_known() -> None:
    with pytest.raises(ValidationFailed) as caught:
        tenant_rules((), "everything", [], [])
    assert caught.value.problems[0].field == "mode"


# --- where a notification channel connects ---


def test_channel_targets() -> None:
    hook = channel_target({"type": "webhook", "url": "https://Hooks.Example.com/x", "secret": "s"})
    assert hook is not None and (hook.field, hook.host, hook.port) == (
        "url", "hooks.example.com", 443
    )  # fmt: skip
    ipv6 = channel_target({"type": "webhook", "url": "http://[::ffff:127.0.0.1]:9/"})
    assert ipv6 is not None and (ipv6.host, ipv6.port) == ("::ffff:127.0.0.1", 9)
    mail = channel_target({"type": "email", "host": "127.0.0.1", "sender": "a@b"})
    assert mail is not None and (mail.field, mail.host, mail.port) == ("host", "127.0.0.1", 25)
    assert channel_target({"type": "webhook", "url": "ftp://x/"}) is None
    assert channel_target({"type": "sms"}) is None


def test_the_rules_import_no_io_library() -> None:
    code = (
        "import importlib, json, sys\n"
        "importlib.import_module('hub.domain.egress')\n"
        "importlib.import_module('hub.services.egress.rules')\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = {m.split(".")[0] for m in json.loads(result.stdout)}
    assert loaded.isdisjoint({"httpx", "httpcore", "sqlalchemy", "litestar", "smtplib", "anyio"})
