"""The foundation tests' scratch checkout: the tiny study notebook (tests/notebooks/tiny.ipynb) with two profiles."""
import shutil
from pathlib import Path

import pytest

TINY = Path(__file__).resolve().parents[1] / "notebooks" / "tiny.ipynb"


@pytest.fixture
def root(tmp_path):
    """A checkout with notebooks/tiny.ipynb and its profiles ``small`` (n 4, label 'profiled') and ``bad``."""
    (tmp_path / "notebooks" / "params" / "tiny").mkdir(parents=True)
    shutil.copy(TINY, tmp_path / "notebooks" / "tiny.ipynb")
    (tmp_path / "notebooks" / "params" / "tiny" / "small.yaml").write_text("n: 4\nlabel: profiled\n")
    (tmp_path / "notebooks" / "params" / "tiny" / "bad.yaml").write_text("nn: 4\n")
    return tmp_path
