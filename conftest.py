"""Project-wide pytest configuration: plugins every test run loads."""

pytest_plugins = ["tests.suite_summary"]
