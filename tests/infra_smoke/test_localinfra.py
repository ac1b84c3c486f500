"""Smoke test of the local infrastructure: real Kafka and Elasticsearch, real clients.

It proves what the services' own tests take for granted: that ``localinfra.ensure_up()`` yields
a Kafka broker that kafka-python can produce to and consume from, and an Elasticsearch 8 that the
official client accepts and that analyses Dutch text. The first run fetches and builds both
servers with Maven, which takes a minute or two; later runs start them in seconds.
"""

from __future__ import annotations

import uuid

from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, KafkaProducer

# The servers come from the session fixtures in tests/conftest.py (localinfra.ensure_up()).


def test_kafka_round_trips_a_record(kafka_bootstrap: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        producer.send(topic, key=b"client-1", value=b"care-plan-updated").get(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"smoke-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        record = next(iter(consumer))
    finally:
        consumer.close()

    assert (record.key, record.value) == (b"client-1", b"care-plan-updated")


def test_elasticsearch_indexes_and_searches_dutch_text(elasticsearch_url: str) -> None:
    index = f"smoke-{uuid.uuid4().hex}"
    with Elasticsearch(elasticsearch_url, request_timeout=30) as client:
        assert client.info()["version"]["number"].startswith("8.")
        client.indices.create(
            index=index,
            mappings={"properties": {"note": {"type": "text", "analyzer": "dutch"}}},
        )
        client.bulk(
            operations=[
                {"index": {"_index": index, "_id": "1"}},
                {"note": "De zorgverleners bezochten de cliënten thuis"},
            ]
        )
        client.indices.refresh(index=index)

        # Singular query, plural text: only matches if the Dutch stemmer ran on both sides.
        hits = client.search(index=index, query={"match": {"note": "zorgverlener"}})["hits"]

    assert [hit["_id"] for hit in hits["hits"]] == ["1"]
