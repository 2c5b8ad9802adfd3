"""Project-wide pytest configuration: plugins every test run loads, and hypothesis's settings.

Hypothesis fails an example that takes longer than its ``deadline`` (200 ms by default): a
timed assertion, which a loaded machine trips (seen: ``test_ports.py::test_against_model`` and
``test_rewrite.py`` under two other jobs and a compile). Speed is measured by ``dysco bench``,
not by tests, so the project's profile has no deadline.
"""

from hypothesis import settings

settings.register_profile("dysco", deadline=None)
settings.load_profile("dysco")

pytest_plugins = ["tests.suite_summary"]
