"""Which Host names the server answers to (DNS rebinding defence), without a server."""

from __future__ import annotations

import socket

from imagechat.security.hosts import allowed_hosts, host_name


def test_by_default_only_the_bound_address_and_local_names():
    assert allowed_hosts("", "127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts("", "chat.internal") == {"localhost", "127.0.0.1", "::1", "chat.internal"}


def test_bound_to_every_address_the_machine_own_name_is_allowed_too():
    hosts = allowed_hosts("", "0.0.0.0")
    assert socket.gethostname().lower() in hosts and "localhost" in hosts
    assert "evil.example" not in hosts


def test_configured_names_replace_the_defaults():
    assert allowed_hosts(" Chat.Example.com , 10.0.0.5", "0.0.0.0") == {"chat.example.com", "10.0.0.5"}


def test_host_header_ports_and_brackets_are_stripped():
    assert host_name("Example.com:8000") == "example.com"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("::1") == "::1"
