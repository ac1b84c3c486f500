"""Local stand-ins for outside services, for tests and benchmarks (never for production)."""
