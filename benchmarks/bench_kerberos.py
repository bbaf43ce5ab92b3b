"""What a Kerberos token costs the SDK (``httpAuthenticateScheme``), against a real MIT KDC on
loopback (tests/kerberos_servers.py; needs krb5-kdc, krb5-admin-server, krb5-user and the
kerberos extra).

Reported, on asyncio and trio, as the median and 99th percentile wall time of
``Negotiator.start(host)`` awaited from the event loop (worker-thread hop included):

* ``first``: a new negotiator with a password: the AS exchange (ticket-granting ticket into a
  private in-memory cache) + the TGS exchange (service ticket) + the token;
* ``next``: every later token for the same host (what each tunnel or request pays);
* ``verify``: the acceptor's side, for scale: checking one token with the service keytab.

    .venv/bin/python benchmarks/bench_kerberos.py [--tokens N]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.kerberos_servers

from splitio_async.config import KerberosSettings  # noqa: E402
from splitio_async.transport.kerberos import Negotiator  # noqa: E402
from tests.kerberos_servers import KerberosRealm  # noqa: E402

HOST = "127.0.0.1"


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(ordered)
    return f"  {name:<7} median {median * 1e3:8.3f} ms   p99 {p99 * 1e3:8.3f} ms"


async def _timed(call: Callable[[], Awaitable[object]], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _measure(tokens: int, keytab: Path, rcache: Path) -> list[str]:
    import gssapi  # noqa: PLC0415

    settings = KerberosSettings("KERBEROS_PROXY", "alice", "alice-pw")
    first = await _timed(lambda: Negotiator(settings).start(HOST), 20)
    negotiator = Negotiator(settings)
    await negotiator.start(HOST)
    headers: list[str] = []

    async def one() -> None:
        headers.append((await negotiator.start(HOST)).header)

    following = await _timed(one, tokens)
    creds = gssapi.Credentials(usage="accept",
                               store={"keytab": str(keytab), "rcache": f"file2:{rcache}"})
    verify = []
    for header in headers:
        token = base64.b64decode(header.split(" ", 1)[1])
        started = time.perf_counter()
        gssapi.SecurityContext(creds=creds, usage="accept").step(token)
        verify.append(time.perf_counter() - started)
    return [_row("first", first), _row("next", following), _row("verify", verify)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=500)
    args = parser.parse_args()
    with KerberosRealm() as realm:
        os.environ.update(realm.env)
        realm.add_user("alice", "alice-pw")
        keytab = realm.add_service(f"HTTP/{HOST}")
        for backend in ("asyncio", "trio"):
            rows = anyio.run(_measure, args.tokens, keytab, realm.dir / f"{backend}.rcache",
                             backend=backend)
            print(f"{backend}: {args.tokens} tokens")
            print("\n".join(rows))


if __name__ == "__main__":
    main()
