"""PSP's A, B come from the dataset's own folder name in every layout: the bag-of-words and Mulan readers once
kept the "other" preset whatever the dataset (Amazon-670K ships as bag-of-words), and the raw-text reader read the
parent folder's name too (~/amazon-work/Wiki10-31K took Amazon's). Blank lines of a bag-of-words file are points
with neither labels nor features, up to the header's count.

Does not prove: that the presets themselves are right (Jain et al.'s constants as pyxclib has them, copied into
metrics.AB_PRESETS; no test can check a constant against its source)."""
import shutil
from pathlib import Path

import pytest

from workbench.xmc.load import load_dataset
from workbench.xmc.metrics import AB_PRESETS

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc"


def test_every_layout_takes_a_b_from_its_own_folder_name(tmp_path):
    shutil.copytree(FIX / "bow", tmp_path / "Amazon-670K")
    assert load_dataset(tmp_path / "Amazon-670K").propensity_ab == AB_PRESETS["amazon"]
    shutil.copytree(FIX / "bow", tmp_path / "WikiLSHTC-325K")
    assert load_dataset(tmp_path / "WikiLSHTC-325K").propensity_ab == AB_PRESETS["wikipedia"]
    shutil.copytree(FIX / "raw_text", tmp_path / "amazon-work" / "Wiki10-31K")
    assert load_dataset(tmp_path / "amazon-work" / "Wiki10-31K").propensity_ab == AB_PRESETS["other"]
    shutil.copytree(FIX / "raw_text", tmp_path / "LF-AmazonTitles-131K" / "titles")
    assert load_dataset(tmp_path / "LF-AmazonTitles-131K", "titles").propensity_ab == AB_PRESETS["amazon"]
    # the variant folder passed itself (as the negative-mining study does): its name is no dataset's
    assert load_dataset(tmp_path / "LF-AmazonTitles-131K" / "titles").propensity_ab == AB_PRESETS["amazon"]
    # and so in the label-feature JSON layout, which is read by its own early branch
    shutil.copytree(FIX / "lf_json", tmp_path / "LF-AmazonTitles-1.3M" / "titles")
    assert load_dataset(tmp_path / "LF-AmazonTitles-1.3M" / "titles").propensity_ab == AB_PRESETS["amazon"]
    shutil.copytree(FIX / "lf_json", tmp_path / "LF-Amazon-131K")
    assert load_dataset(tmp_path / "LF-Amazon-131K", "fulltext").propensity_ab == AB_PRESETS["amazon"]


def test_a_line_of_one_space_is_a_point_without_labels_or_features(tmp_path):
    """The format's empty point (its line starts with a space and has nothing else) loads; a truly empty line
    within the header's count is refused: it is what a cut file leaves (empty lines after the count are not)."""
    import pytest
    from workbench.xmc.errors import DataFormatError
    d = tmp_path / "bow"
    shutil.copytree(FIX / "bow", d)
    lines = (d / "train.txt").read_text().splitlines()
    n, f, l = lines[0].split()
    (d / "train.txt").write_text("\n".join([f"{int(n) + 1} {f} {l}", *lines[1:2], " ", *lines[2:]]) + "\n\n")
    data = load_dataset(d)
    assert data.Y_train.shape[0] == int(n) + 1 and data.Y_train[1].nnz == 0 and data.X_train[1].nnz == 0
    (d / "train.txt").write_text("\n".join([lines[0], *lines[1:-1], ""]) + "\n")  # the last point cut off
    with pytest.raises(DataFormatError, match="empty line"):
        load_dataset(d)


@pytest.mark.parametrize("fixture", ["raw_text", "lf_json"])
def test_a_dataset_loaded_as_dot_from_inside_its_folder_keeps_its_name(tmp_path, monkeypatch, fixture):
    """load_dataset(".") from inside LF-AmazonTitles-131K takes the Amazon (A, B), as the absolute path does (the
    folder's name used to read "" there, and PSP fell back to the "other" preset)."""
    d = tmp_path / "LF-AmazonTitles-131K"
    shutil.copytree(FIX / fixture, d)
    monkeypatch.chdir(d)
    data = load_dataset(".")
    assert data.propensity_ab == AB_PRESETS["amazon"] == load_dataset(d).propensity_ab
    assert "LF-AmazonTitles-131K" in data.name
