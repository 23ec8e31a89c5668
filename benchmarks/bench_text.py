"""Cost of the one exit for text (:func:`mnist_doctor.text.output.safe_text`) on hostile inputs.

Prints ``shape: X ms for N KB`` per input shape: long lines built to make naive patterns
backtrack (``a:a:…``, ``http://…`` repeated, ``?`` floods, long tokens with an ``@``), and a
realistic rendered JSON report. Target: every shape ≤ 1 s per 120 KB (the pre-issue-11
redaction took 42 s on 120 KB of ``x`` and 159 s on ``a:`` repeated).
"""

from __future__ import annotations

import json
import time

from mnist_doctor.text.output import safe_text

SIZE = 120_000


def shapes() -> dict[str, str]:
    rows = [{"id": f"c{i}", "summary": f"via http://u:pw{i}@proxy:3128 ?token=t{i}&v=1"} for i in range(800)]
    report = json.dumps({"results": rows}, indent=2)
    return {
        "plain": "x" * SIZE,
        "colons": "a:" * (SIZE // 2),
        "colons+at": "a:" * (SIZE // 2) + "@host",
        "schemes": "http://a:b" * (SIZE // 10) + "@",
        "bare schemes": "http://" * (SIZE // 7) + "@",
        "question marks": "?" * SIZE + "=",
        "query params": "?token=a&" * (SIZE // 9),
        "userinfo runs": "u:p@" * (SIZE // 4),
        "spaced passwords": "http://u:p c" * (SIZE // 12) + "@",
        "escapes": "\x1b[31m\x07\r" * (SIZE // 8),
        "report json": report[:SIZE],
    }


def main() -> None:
    for name, text in shapes().items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            safe_text(text)
            best = min(best, time.perf_counter() - start)
        print(f"{name}: {best * 1000:.0f} ms for {len(text) // 1000} KB")


if __name__ == "__main__":
    main()
