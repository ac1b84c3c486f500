"""What the customer profile costs enrichment per message (enrichment/customer.py).

Against a real HTTP server on loopback playing the CRM (every customer known, answering
after `--crm-delay-ms`), per message in microseconds (best of `--repeat` runs of
`--messages` messages over `--customers` customers):

* author only: no CRM configured (the profile from the message's author), brand without a
  VIP list, and with a VIP list of `--vips` references;
* cache hit: the CRM configured, every customer already cached (the steady state);
* circuit open: the CRM dead, the breaker open (no request, no wait);

and once each, in milliseconds: a fresh lookup (a cache miss the CRM answers within the
wait budget) and a slow CRM's miss (the wait budget spent, then the author's data).

Figures only, never assertions.

    python bench/customer_lookup.py [--messages 100000] [--customers 10000] [--vips 1000]
        [--repeat 5] [--crm-delay-ms 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from socialcare.core.domain.care_config import CareConfig
from socialcare.enrichment.customer import CrmOptions, CustomerLookup
from socialcare.v1 import message_pb2


def care(vips: int) -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "default", "languages": ["*"], "first_response": "1h"}],
            "queues": [{"name": "care", "languages": ["*"]}],
            "agents": [{"id": "ann", "name": "Ann", "languages": ["nl"], "capacity": 5}],
            "brands": [{"name": "acme", "vip": [f"x:{10**9 + n}" for n in range(vips)]}],
        }
    )


def messages(count: int, customers: int) -> list[message_pb2.SocialMessage]:
    return [
        message_pb2.SocialMessage(
            message_id=f"m{n}",
            channel=message_pb2.CHANNEL_X,
            brand="acme",
            text="Waar blijft mijn pakket?",
            author=message_pb2.Author(
                id=str(n % customers), handle=f"@user{n % customers}", followers=n % 100_000
            ),
        )
        for n in range(count)
    ]


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up at close (its timeout, the bench ending)


def crm_server(delay_s: float) -> tuple[ThreadingHTTPServer, str]:
    body = json.dumps({"tier": "gold", "value": 12000, "vip": False, "crm_id": "C-1"}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    # Headers and body leave in two writes: without this, Nagle's algorithm holds the body
    # for the client's delayed ACK (~40 ms on Linux), which a real server would not.
    Handler.disable_nagle_algorithm = True

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/lookup"


def per_message_us(
    lookup: CustomerLookup, batch: list[message_pb2.SocialMessage], repeat: int
) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for message in batch:
            lookup.customer(message)
        best = min(best, time.perf_counter() - started)
    return best / len(batch) * 1e6


def once_ms(call: Callable[[], object], times: int = 50) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--vips", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--crm-delay-ms", type=float, default=2.0)
    args = parser.parse_args()
    batch = messages(args.messages, args.customers)
    plain, listed = care(0), care(args.vips)

    print(f"{args.messages:,} messages over {args.customers:,} customers, best of {args.repeat}")
    rows = [
        ("author only, no VIP list", per_message_us(CustomerLookup(plain), batch, args.repeat)),
        (
            f"author only, VIP list of {args.vips:,}",
            per_message_us(CustomerLookup(listed), batch, args.repeat),
        ),
    ]
    server, url = crm_server(args.crm_delay_ms / 1000)
    options = CrmOptions(url=url, wait_s=1.0, cache_size=args.customers * 2)
    cached = CustomerLookup(listed, options)
    for message in batch[: args.customers]:  # warm: every customer asked once
        cached.customer(message)
    rows.append(("CRM configured, cache hit", per_message_us(cached, batch, args.repeat)))
    dead = CustomerLookup(listed, CrmOptions(url="http://127.0.0.1:9/", failures_to_open=1))
    dead.customer(batch[0])  # connection refused: the breaker opens
    assert dead.breaker.is_open
    rows.append(("CRM dead, circuit open", per_message_us(dead, batch, args.repeat)))
    for name, micros in rows:
        print(f"  {name:<36} {micros:7.2f} us/message")

    fresh = CustomerLookup(listed, CrmOptions(url=url, wait_s=1.0))
    counter = iter(range(10**9))

    def new_customer() -> object:
        n = next(counter)
        author = message_pb2.Author(id=f"new{n}")
        return fresh.customer(message_pb2.SocialMessage(brand="acme", author=author))

    print(
        f"  fresh lookup (CRM answers after {args.crm_delay_ms:g} ms, loopback): "
        f"{once_ms(new_customer):.2f} ms median"
    )
    slow_server, slow_url = crm_server(0.2)
    slow = CustomerLookup(listed, CrmOptions(url=slow_url, wait_s=0.025, workers=64))
    counter = iter(range(10**9))
    fresh = slow
    print(f"  slow CRM (200 ms), wait budget 25 ms: {once_ms(new_customer, 20):.2f} ms median")
    for lookup in (cached, dead, slow):
        lookup.close()
    server.shutdown()
    slow_server.shutdown()


if __name__ == "__main__":
    main()
