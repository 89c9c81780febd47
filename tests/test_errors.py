from __future__ import annotations

import inspect

import rox.errors as errors
from rox.errors import EXIT_CODES, RowProblem, RoxError, ValidationError


def test_every_error_is_in_the_tree_docstring_and_has_an_exit_code():
    classes = [
        obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, RoxError)
    ]
    for cls in classes:
        assert cls in EXIT_CODES, cls
        assert cls.__name__ in errors.__doc__, cls
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)


def test_errors_are_also_the_builtin_they_resemble():
    assert issubclass(errors.NotFittedError, AttributeError)
    assert issubclass(errors.TableNotFoundError, KeyError)
    assert issubclass(errors.SourceError, OSError)
    assert issubclass(errors.ValidationError, ValueError)
    assert issubclass(errors.ConvergenceError, RuntimeError)


def test_validation_error_names_the_first_problem():
    problem = RowProblem("r.csv", 3, "score", "11", "score must be within the scale 0-10")
    result = str(ValidationError([problem], n_invalid=2, n_rows=10))
    expected = (
        "2 of 10 rows are invalid; nothing was loaded. First: r.csv, row 3, column 'score': '11': "
        "score must be within the scale 0-10 (to load the valid rows and keep the others in the "
        "'rejects' table, quarantine them: on_error='quarantine', or --on-error quarantine on the "
        "command line)"
    )
    assert result == expected
    assert (
        str(RowProblem("r.csv", 4, "ts", None, "required"))
        == "r.csv, row 4, column 'ts': missing: required"
    )
