"""JSON renderer: the report dict as is (schema 2: docs/json.md, docs/report.schema.json).

Always valid JSON: strings are made safe (:func:`mnist_doctor.text.output.sanitize`: redacted,
control characters and undecodable bytes escaped), and ``NaN`` never appears.
"""

from __future__ import annotations

from typing import Any

from mnist_doctor.text.output import to_json


def render_json(report: dict[str, Any]) -> str:
    return to_json(report)
