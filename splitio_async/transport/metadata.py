"""The SDK's identity as the Split service sees it: version, machine IP and name headers."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from .._version import SDK_WIRE_VERSION


@dataclass(frozen=True, slots=True)
class SdkMetadata:
    version: str
    machine_ip: str
    machine_name: str

    def headers(self) -> dict[str, str]:
        headers = {"SplitSDKVersion": self.version}
        if self.machine_ip not in ("NA", "unknown"):
            headers["SplitSDKMachineIP"] = self.machine_ip
            headers["SplitSDKMachineName"] = self.machine_name
        return headers


def host_name() -> str:
    """The machine's name, or "unknown" when it cannot be read."""
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


def _local_ip() -> str:
    """The host's own address from its name (resolved locally, usually /etc/hosts). The official
    SDK "connects" a UDP socket to a private address to read the route's source address; we do
    not touch any non-local address. Blocking: call it in a worker thread."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "unknown"


def sdk_metadata(ip_addresses_enabled: bool, machine_ip: str | None,
                 machine_name: str | None) -> SdkMetadata:
    """Official rules: ``IPAddressesEnabled: False`` → ``NA`` (headers omitted); otherwise the
    configured values or detection, with the name ``ip-a-b-c-d`` by default."""
    version = SDK_WIRE_VERSION
    if not ip_addresses_enabled:
        return SdkMetadata(version, "NA", "NA")
    ip = machine_ip or _local_ip()
    name = machine_name or ("unknown" if ip == "unknown" else "ip-" + ip.replace(".", "-"))
    return SdkMetadata(version, ip, name)
