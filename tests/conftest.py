"""Shared fixtures: the embedded local AWS and the HTTPS issuers live in tests/fixtures/."""

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.issuers"]
