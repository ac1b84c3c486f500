"""Security properties of the running platform (issue 14): what it listens on, what it logs,
and that every door wants a credential. Each module starts `socialcare run all` on the
embedded backends (no Kafka or Elasticsearch)."""
