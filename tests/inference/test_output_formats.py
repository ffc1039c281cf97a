"""The text predict and evaluate print or log: byte for byte what the commands wrote before issue 9."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.tables import csv_text
from digit_experiments.inference.evaluation import COLUMNS, format_table
from digit_experiments.inference.formats import FORMATS, check_format, render
from digit_experiments.inference.prediction import Prediction


def predictions() -> list[Prediction]:
    """A scored file whose name needs CSV quoting, a failed one with quotes, and a certain one."""
    probabilities = np.linspace(0.01, 0.19, 10)
    return [
        Prediction("a/b,c.png", probabilities=(probabilities / probabilities.sum()).astype(np.float32)),
        Prediction('x "q".png', error="not an image, really"),
        Prediction("zz.png", probabilities=np.eye(10, dtype=np.float32)[3]),
    ]


#: (format, the three predictions rendered, no predictions rendered), as the commands wrote them before.
EXPECTED_TEXT = [
    ("csv",
     'file,digit,probability,error\n"a/b,c.png",9,0.19,\n"x ""q"".png",,,"not an image, really"\nzz.png,3,1.0,',
     "file,digit,probability,error"),
    ("table",
     'file       digit  probability\na/b,c.png      9       0.1900\nx "q".png  ERROR: not an image, really\n'
     "zz.png         3       1.0000",
     "file  digit  probability"),
]


@pytest.mark.parametrize(("form", "rendered", "empty"), EXPECTED_TEXT, ids=[row[0] for row in EXPECTED_TEXT])
def test_csv_quotes_and_table_aligns_like_before(form: str, rendered: str, empty: str) -> None:
    assert render(predictions(), form) == rendered
    assert render([], form) == empty


def test_prediction_json_has_all_ten_probabilities_or_the_error() -> None:
    rows = json.loads(render(predictions(), "json"))
    assert rows[0] == {"file": "a/b,c.png", "digit": 9, "probability": 0.19,
                       "probabilities": [0.01, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15, 0.17, 0.19]}
    assert rows[1] == {"file": 'x "q".png', "error": "not an image, really"}
    assert render(predictions(), "json").startswith('[\n {\n  "file": "a/b,c.png",\n  "digit": 9,')
    assert render([], "json") == "[]"


def test_an_unknown_format_names_the_valid_ones() -> None:
    for form in FORMATS:
        check_format(form)
    with pytest.raises(ConfigError, match="use one of table, json, csv"):
        check_format("xml")


def test_evaluation_table_and_csv() -> None:
    rows = [
        {"source": "mnist", "n": 300, "accuracy": 0.4912345, "ci95_low": 0.4351, "ci95_high": 0.5475, "loss": 1.92321, "macro_f1": 0.45},
        {"source": "all", "n": 12345, "accuracy": 1.0, "ci95_low": 0.9997, "ci95_high": 1.0, "loss": 0.0001, "macro_f1": 0.99999},
    ]
    assert format_table(rows) == (
        "source      n  accuracy  ci95_low  ci95_high    loss  macro_f1\n"
        "mnist     300    0.4912    0.4351     0.5475  1.9232    0.4500\n"
        "all     12345    1.0000    0.9997     1.0000  0.0001    1.0000"
    )
    assert csv_text(rows, COLUMNS) == (
        "source,n,accuracy,ci95_low,ci95_high,loss,macro_f1\n"
        "mnist,300,0.4912345,0.4351,0.5475,1.92321,0.45\nall,12345,1.0,0.9997,1.0,0.0001,0.99999\n"
    )
