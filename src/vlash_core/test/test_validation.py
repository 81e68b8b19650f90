import numpy as np
import pytest

from vlash_core.validation import check_int


def test_check_int_accepts_numpy_integers():
    assert check_int("n", np.int64(3), 0) == 3 and type(check_int("n", np.int64(3))) is int


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (True, TypeError, "n must be an integer, got bool"),
        (1.0, TypeError, "got float"),
        (-1, ValueError, "n must be >= 0, got -1"),
    ],
)
def test_check_int_refuses(value, error, match):
    with pytest.raises(error, match=match):
        check_int("n", value, 0)
