"""Tests for bench/compare_views.py. Run from the repository root:

    python -m unittest discover -s bench -p 'test_*.py'
"""

import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_views  # noqa: E402

ROWS = [
    {"status_code": 200, "count_status_code": 3, "avg_response_time": 12.5,
     "cumulative_percentage": 100.0 / 3, "window_start": "2024-01-25T12:00:00"},
    {"status_code": None, "count_status_code": 0, "avg_response_time": 7.0,
     "cumulative_percentage": 100.0, "window_start": "2024-01-25T12:00:00"},
    {"status_code": 404, "count_status_code": 1, "avg_response_time": None,
     "cumulative_percentage": 0.0, "window_start": None},
]


class CompareViewsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.a = os.path.join(self.tmp.name, "a")
        self.b = os.path.join(self.tmp.name, "b")
        for d in (self.a, self.b):
            os.mkdir(d)
            for view in compare_views.VIEWS:
                self.write(d, view, [])

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, directory, view, rows):
        with open(os.path.join(directory, f"{view}.jsonl"), "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")

    def compare(self, rows_a, rows_b):
        view = compare_views.VIEWS[3]
        self.write(self.a, view, rows_a)
        self.write(self.b, view, rows_b)
        out = io.StringIO()
        return compare_views.compare_dirs(self.a, self.b, out), out.getvalue()

    def test_equal_up_to_order_format_and_omitted_nulls(self):
        # The other side as arrow-json writes it: NULLs omitted, integral floats as ints,
        # a fraction of zeros on a timestamp, rows in another order.
        other = [
            {"count_status_code": 1, "status_code": 404, "cumulative_percentage": 0},
            {"count_status_code": 0, "avg_response_time": 7, "cumulative_percentage": 100,
             "window_start": "2024-01-25T12:00:00.000000"},
            {"status_code": 200, "count_status_code": 3, "avg_response_time": 12.5,
             "cumulative_percentage": 33.33333333333334, "window_start": "2024-01-25 12:00:00Z"},
        ]
        ok, text = self.compare(ROWS, other)
        self.assertTrue(ok, text)
        self.assertIn("status_code_analysis_summary: 3 rows agree", text)

    def test_changed_value_fails(self):
        other = [dict(r) for r in ROWS]
        other[0]["avg_response_time"] = 12.5001
        ok, text = self.compare(ROWS, other)
        self.assertFalse(ok)
        self.assertIn("1 rows only in A, 1 only in B", text)
        self.assertIn("12.5001", text)

    def test_null_differs_from_zero(self):
        other = [dict(r) for r in ROWS]
        other[2]["avg_response_time"] = 0
        ok, _ = self.compare(ROWS, other)
        self.assertFalse(ok)

    def test_missing_row_fails(self):
        ok, text = self.compare(ROWS, ROWS[:2])
        self.assertFalse(ok)
        self.assertIn("row counts differ: 3 in A, 2 in B", text)

    def test_duplicate_rows_count_as_a_multiset(self):
        ok, _ = self.compare(ROWS + ROWS[:1], ROWS + ROWS[1:2])
        self.assertFalse(ok)

    def test_tolerance_across_a_rounding_boundary(self):
        # Rounded to 6 digits the two "a" rows sort on either side of the "b" row, so the
        # sorted pass leaves them unpaired; they are still within 1e-9.
        same = {"x": 1.23456, "z": "b"}
        ok, text = self.compare([{"x": 1.2345649999999, "z": "a"}, same],
                                [{"x": 1.2345650000001, "z": "a"}, same])
        self.assertTrue(ok, text)

    def test_missing_file_fails(self):
        os.remove(os.path.join(self.b, "top_user_actions.jsonl"))
        out = io.StringIO()
        self.assertFalse(compare_views.compare_dirs(self.a, self.b, out))
        self.assertIn("top_user_actions: FAIL: missing file", out.getvalue())


if __name__ == "__main__":
    unittest.main()
