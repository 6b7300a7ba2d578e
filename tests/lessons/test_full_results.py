"""Full-mode headline numbers still hold (minutes: run explicitly with ``python -m pytest -m full``).

Not part of the default test run (``pyproject.toml`` deselects the ``full`` marker); the recorded numbers are
in ``benchmarks/lesson_results.json``, written by ``python benchmarks/lesson_results.py``.
"""

import json

import pytest

from benchmarks.lesson_results import LESSONS, RECORD, differences, run


@pytest.mark.full
@pytest.mark.parametrize("name", sorted(LESSONS.values()))
def test_full_mode_numbers_match_the_record(name, tmp_path):
    recorded = json.loads(RECORD.read_text())[name]
    assert differences(recorded, run(name, tmp_path)) == []
