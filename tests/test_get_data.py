"""scripts/assets.py corpus, the `data` step: CoNLL-2003's files from CONLL2003_DIR (offline),
from assets/, or downloaded, each checked against project.yml's md5 sum; a clear error
otherwise. Downloads come from a server this test starts on 127.0.0.1."""

import functools
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import srsly
import typer
from scripts import assets
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
TESTA = Path("assets/eng.testa")


def run_get_data(project: Path, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(assets.app, ["corpus", *args, "--project-dir", str(project)])
    return result.exit_code, result.stdout + result.stderr


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the real project.yml (its CoNLL assets and sums)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "project.yml", root / "project.yml")
    return root


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a folder: (its base URL, the folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()


def served_project(project: Path, base_url: str, checksum: str) -> None:
    """project.yml's eng.testa asset, its URL on the test's server and the given sum."""
    config = srsly.read_yaml(project / "project.yml")
    for asset in config["assets"]:
        if asset["dest"] == str(TESTA):
            asset.update(url=f"{base_url}/eng.testa", checksum=checksum)
    srsly.write_yaml(project / "project.yml", config)


def test_offline_copy_from_conll2003_dir_is_checked(
    project: Path, conll_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONLL2003_DIR", str(conll_dir))
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 0, output
    assert f"{TESTA}: md5 ok ({conll_dir / 'eng.testa'})" in output
    assert md5(project / TESTA) == "7b3e0ba9cdf7fbbf127b55d9b9dd5457"


def test_a_damaged_file_in_conll2003_dir_stops_the_run(
    project: Path, tmp_path: Path, conll_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "eng.testa").write_bytes((conll_dir / "eng.testa").read_bytes()[:-100])
    monkeypatch.setenv("CONLL2003_DIR", str(damaged))
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 1
    assert "eng.testa has the wrong md5 (expected 7b3e0ba9cdf7fbbf127b55d9b9dd5457)" in output
    assert "replace it with the original (CoNLL-2003 English development data (testa))" in output
    assert not (project / TESTA).exists()


def test_a_file_missing_from_conll2003_dir_is_named(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONLL2003_DIR", str(tmp_path))
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 1
    assert f"eng.testa is not in CONLL2003_DIR={tmp_path}: put eng.testa there" in output
    assert "the folder that holds eng.train, eng.testa and eng.testb" in output


def test_tiny_files_pass_without_checksums(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The smoke test's path: `--vars.checksums --no-verify-checksums` with tiny files."""
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for name in ("eng.train", "eng.testa", "eng.testb"):
        (tiny / name).write_text("Paris NNP I-NP I-LOC\n", encoding="utf8")
    monkeypatch.setenv("CONLL2003_DIR", str(tiny))
    code, output = run_get_data(project, ["--no-verify-checksums"])
    assert code == 0, output
    assert output.count("md5 not checked") == 3
    assert (project / TESTA).read_text(encoding="utf8") == "Paris NNP I-NP I-LOC\n"
    # with the sums checked, the same files are refused
    code, output = run_get_data(project, [])
    assert code == 1 and "eng.train has the wrong md5" in output


def test_download_is_checked_and_replaces_a_damaged_copy(
    project: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without CONLL2003_DIR the asset is downloaded; a copy in assets/ with the wrong sum
    is fetched again (weasel's `spacy project assets` keeps it and exits 0)."""
    base_url, folder = server
    (folder / "eng.testa").write_text("EU NNP I-NP I-ORG\n", encoding="utf8")
    served_project(project, base_url, md5(folder / "eng.testa"))
    monkeypatch.delenv("CONLL2003_DIR", raising=False)
    (project / "assets").mkdir()
    (project / TESTA).write_text("damaged\n", encoding="utf8")
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 0, output
    assert f"{TESTA}: md5 ok ({base_url}/eng.testa)" in output
    assert (project / TESTA).read_text(encoding="utf8") == "EU NNP I-NP I-ORG\n"
    # a verified copy in assets/ is used as it is: nothing is downloaded
    (folder / "eng.testa").unlink()
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 0 and f"md5 ok ({project / TESTA})" in output


def test_a_download_with_the_wrong_sum_leaves_nothing(
    project: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, folder = server
    (folder / "eng.testa").write_text("EU NNP I-NP I-ORG\n", encoding="utf8")
    served_project(project, base_url, "0" * 32)
    monkeypatch.delenv("CONLL2003_DIR", raising=False)
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 1
    assert f"eng.testa downloaded from {base_url}/eng.testa has the wrong md5" in output
    assert sorted(p.name for p in (project / "assets").iterdir()) == []


def test_no_download_and_no_local_copy_says_to_set_conll2003_dir(
    project: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, _ = server  # serves nothing: eng.testa is a 404
    served_project(project, base_url, "0" * 32)
    monkeypatch.delenv("CONLL2003_DIR", raising=False)
    code, output = run_get_data(project, [str(TESTA)])
    assert code == 1
    assert f"eng.testa could not be downloaded from {base_url}/eng.testa" in output
    assert "offline, set CONLL2003_DIR to the folder that holds eng.train" in output
    assert not (project / TESTA).exists() and not (project / "assets" / "eng.testa.part").exists()


def test_own_files_are_only_checked_to_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project.yml").write_text((REPO / "project.yml").read_text(encoding="utf8"))
    for name in ("train.txt", "dev.txt", "test.spacy"):
        (tmp_path / name).write_text("a O\n")
    monkeypatch.delenv("CONLL2003_DIR", raising=False)
    code, output = run_get_data(tmp_path, ["train.txt", "dev.txt", str(tmp_path / "test.spacy")])
    assert code == 0, output
    assert "your own data" in output
    assert not (tmp_path / "assets").exists()  # nothing of CoNLL-2003 fetched
    code, output = run_get_data(tmp_path, ["train.txt", "missing.txt", "dev.txt"])
    assert code == 1
    assert "missing.txt does not exist" in output
