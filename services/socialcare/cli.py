"""The `socialcare` command: run services, simulate traffic, manage local infrastructure."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from socialcare import __version__
from socialcare.core import telemetry
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.care_config import CareConfigError
from socialcare.core.runtime import Runtime, ServiceParts, build_app, serve

log = logging.getLogger("socialcare")

# Service name -> module with `parts(runtime) -> ServiceParts`. Order matters for `all`:
# producers of a topic start before its consumers only for tidier logs; nothing depends on it.
SERVICES: dict[str, str] = {
    "ingestion": "socialcare.ingestion.main",
    "enrichment": "socialcare.enrichment.main",
    "routing": "socialcare.routing.main",
    "sla": "socialcare.sla.main",
    "escalation": "socialcare.escalation.main",
    "indexer": "socialcare.indexer.main",
    "webhooks": "socialcare.webhooks.main",
    "gateway": "socialcare.gateway.main",
}


def _parts_of(service: str) -> Callable[[Runtime], ServiceParts]:
    module = importlib.import_module(SERVICES[service])
    factory: Callable[[Runtime], ServiceParts] = module.parts
    return factory


def assemble(runtime: Runtime, services: Sequence[str]) -> ServiceParts:
    combined = ServiceParts()
    for service in services:
        piece = _parts_of(service)(runtime)
        combined.components.extend(piece.components)
        combined.routers.extend(piece.routers)
        combined.installers.extend(piece.installers)
    return combined


def run(service: str) -> int:
    settings = PlatformSettings()
    names = list(SERVICES) if service == "all" else [service]
    telemetry.configure(f"socialcare-{service}", settings.log_level, settings.otlp_endpoint)
    runtime = Runtime(settings)
    try:
        runtime.care  # noqa: B018 (validate the care config before anything starts)
    except CareConfigError as exc:
        print(f"socialcare: {exc}", file=sys.stderr)
        return 2
    # Every process checks credentials; the one that serves sign-in creates the first
    # accounts (ADR 0007).
    auth = runtime.auth(bootstrap="gateway" in names)
    parts = assemble(runtime, names)
    parts.components[:0] = auth.components
    app = build_app(
        f"socialcare {service}",
        parts.routers,
        parts.components,
        auth.authenticator,
        tracing=bool(settings.otlp_endpoint),
    )
    for install in parts.installers:
        install(app)
    base = f"http://{settings.http_host}:{settings.http_port}"

    def announce() -> None:
        lines = [
            f"socialcare {__version__}: {service} running "
            f"(bus: {settings.bus}, search: {settings.search}, data: {settings.data_dir})",
            f"  console    {base}/  (wall: {base}/wall)",
            f"  API docs   {base}/docs",
            f"  health     {base}/healthz",
            f"  metrics    {base}/metrics",
        ]
        if service == "all":
            lines += [
                "  sign in at the console, or get a token for the API (admin's password was",
                "  printed at first start; SOCIALCARE_ADMIN_PASSWORD chooses it):",
                f"    TOKEN=$(curl -s -X POST {base}/v1/auth/token -d username=admin \\",
                '      --data-urlencode password="$ADMIN_PASSWORD" | python3 -c \\',
                "      'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
                "  send a first message:",
                f'    curl -s -X POST {base}/v1/messages -H "Authorization: Bearer $TOKEN" \\',
                "      -H 'content-type: application/json' \\",
                '      -d \'{"channel":"x","external_id":"hello-1","author":{"id":"42",'
                '"handle":"@jan"},"text":"Mijn pakket is nog steeds niet bezorgd!",'
                '"created_at":"2026-11-23T10:00:00Z"}\'',
                f'    curl -s -H "Authorization: Bearer $TOKEN" {base}/v1/cases \\',
                "      | python3 -m json.tool",
                "  or watch demo traffic:",
                "    socialcare simulate --username admin --rate 2 --duration 60",
            ]
        print("\n".join(lines), flush=True)

    serve(runtime, parts.components, app, on_ready=announce)
    return 0


def load_localinfra() -> ModuleType:
    """deploy/local/localinfra.py lives outside the package: it needs only the stdlib and
    runs before any venv exists, so it is loaded from the repository checkout."""
    path = Path(__file__).resolve().parents[2] / "deploy" / "local" / "localinfra.py"
    if not path.exists():
        raise SystemExit(f"socialcare infra needs the repository checkout ({path} is missing)")
    spec = importlib.util.spec_from_file_location("localinfra", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["localinfra"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socialcare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="run one service, or all in one process")
    run_parser.add_argument("service", choices=[*SERVICES, "all"])

    sim = commands.add_parser("simulate", help="send realistic multilingual demo traffic")
    sim.add_argument("--url", default="http://127.0.0.1:8080")
    sim.add_argument("--rate", type=float, default=2.0, help="messages per second")
    sim.add_argument("--duration", type=float, default=None, help="seconds to run")
    sim.add_argument("--count", type=int, default=None, help="messages to send")
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument("--no-replies", action="store_true", help="do not answer as agents")
    sim.add_argument(
        "--token", default=None, help="bearer token or API key (default: env SOCIALCARE_TOKEN)"
    )
    sim.add_argument(
        "--username",
        default=None,
        help="sign in at /v1/auth/token as this user (default: env SOCIALCARE_USERNAME); "
        "replying as any agent needs an admin",
    )
    sim.add_argument(
        "--password",
        default=None,
        help="the user's password (default: env SOCIALCARE_PASSWORD, else asked)",
    )

    infra = commands.add_parser("infra", help="local Apache Kafka and Elasticsearch")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument("--kafka-only", action="store_true")
    infra.add_argument("--elasticsearch-only", action="store_true")

    topics = commands.add_parser(
        "topics", help="the Kafka topics from the topic registry: list them or create them"
    )
    topics.add_argument("action", choices=["list", "create"])
    topics.add_argument(
        "--format",
        choices=["table", "json", "strimzi"],
        default="table",
        help="list: a table, JSON (the Helm chart's files/topics.json) or Strimzi KafkaTopic "
        "manifests",
    )
    topics.add_argument(
        "--strimzi-cluster", default="my-cluster", help="the Strimzi Kafka cluster's name"
    )
    topics.add_argument("--namespace", default=None, help="the KafkaTopic resources' namespace")

    dlq = commands.add_parser(
        "dlq", help="dead-letter topics: list their records, show one, replay them"
    )
    dlq_actions = dlq.add_subparsers(dest="dlq_action", required=True)
    dlq_list = dlq_actions.add_parser("list", help="every DLQ topic (or one) and its records")
    dlq_list.add_argument("--topic", default=None, help="one DLQ topic (or its source topic)")
    dlq_list.add_argument(
        "--since", default=None, help="records from then on: a duration back (2h, 7d) or ISO time"
    )
    dlq_list.add_argument("--limit", type=int, default=None, help="the newest N per topic")
    dlq_list.add_argument("--json", action="store_true", help="JSON instead of text")
    dlq_show = dlq_actions.add_parser("show", help="one record: headers, reason, payload")
    dlq_show.add_argument("topic")
    dlq_show.add_argument("position", metavar="partition:offset")
    dlq_replay = dlq_actions.add_parser(
        "replay", help="publish records back to their source topic (once each)"
    )
    dlq_replay.add_argument("topic")
    dlq_replay.add_argument(
        "--offsets", action="append", default=None, help="partition:offset[,partition:offset]"
    )
    dlq_replay.add_argument("--all", action="store_true", help="every record not yet replayed")
    dlq_replay.add_argument("--dry-run", action="store_true", help="say what, publish nothing")

    commands.add_parser("version", help="print the version")

    ns = parser.parse_args(argv)
    if ns.command == "version":
        print(__version__)
        return 0
    if ns.command == "run":
        return run(ns.service)
    if ns.command == "topics":
        from socialcare.core.topics_admin import main as topics_main

        return topics_main(
            ns.action,
            output_format=ns.format,
            strimzi_cluster=ns.strimzi_cluster,
            namespace=ns.namespace,
        )
    if ns.command == "dlq":
        from socialcare.core.dlq import main as dlq_main

        return dlq_main(
            ns.dlq_action,
            topic=getattr(ns, "topic", None),
            position=getattr(ns, "position", None),
            since=getattr(ns, "since", None),
            limit=getattr(ns, "limit", None),
            as_json=getattr(ns, "json", False),
            offsets=getattr(ns, "offsets", None),
            replay_all=getattr(ns, "all", False),
            dry_run=getattr(ns, "dry_run", False),
        )
    if ns.command == "simulate":
        from socialcare.simulate import main as simulate_main

        return simulate_main(
            url=ns.url,
            rate=ns.rate,
            duration_s=ns.duration,
            count=ns.count,
            seed=ns.seed,
            reply=not ns.no_replies,
            token=ns.token,
            username=ns.username,
            password=ns.password,
        )
    localinfra = load_localinfra()
    kafka = not ns.elasticsearch_only
    elasticsearch = not ns.kafka_only
    return int(
        localinfra.main(
            [
                ns.action,
                *(["--kafka"] if kafka and not elasticsearch else []),
                *(["--elasticsearch"] if elasticsearch and not kafka else []),
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
