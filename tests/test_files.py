"""allocart.files: every file-level problem of a loader or writer is one line naming the file."""

from __future__ import annotations

import errno
import os
import pickle

import pytest

from allocart import files
from allocart.errors import AllocartError, DesignError, FileError, ProductError, ScoringError
from allocart.files import check_output, load_json, load_yaml, os_error_message, read_text


def _one_line(exc: BaseException, *names: str) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    for name in names:
        assert name in msg, msg
    return msg


def test_reads_utf8_text_and_drops_a_byte_order_mark(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_bytes("\ufeffname: café\n".encode())
    assert load_yaml(f, what="protocol") == {"name": "café"}
    g = tmp_path / "a.json"
    g.write_text('{"a": [1, 2]}', encoding="utf-8")
    assert load_json(g, what="input") == {"a": [1, 2]}


@pytest.mark.parametrize("loader", [load_yaml, load_json])
def test_missing_folder_and_non_utf8(tmp_path, loader):
    with pytest.raises(FileError) as exc:
        loader(tmp_path / "none.txt", what="input")
    _one_line(exc.value, "none.txt", "does not exist")
    with pytest.raises(FileError) as exc:
        loader(tmp_path, what="input")
    _one_line(exc.value, str(tmp_path), "is a folder, not a file")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(FileError) as exc:
        loader(bad, what="input")
    _one_line(exc.value, "latin1.txt", "not UTF-8", "0xe9", "line 2", "save it as UTF-8")


def test_error_is_also_the_loaders_class_and_pickles(tmp_path):
    with pytest.raises(DesignError) as exc:
        load_yaml(tmp_path / "none.yaml", what="protocol", error=DesignError)
    assert isinstance(exc.value, FileError) and isinstance(exc.value, AllocartError)
    again = pickle.loads(pickle.dumps(exc.value))
    assert (
        isinstance(again, DesignError)
        and isinstance(again, FileError)
        and str(again) == str(exc.value)
    )
    assert (
        files.file_error("x", ProductError).__class__
        is files.file_error("y", ProductError).__class__
    )


def test_size_limit(tmp_path, monkeypatch):
    f = tmp_path / "big.json"
    f.write_text("[" + ",".join(["1"] * 1000) + "]")
    monkeypatch.setattr(files, "MAX_TEXT_BYTES", 100)
    with pytest.raises(FileError) as exc:
        load_json(f, what="input")
    _one_line(exc.value, "big.json", "over the 100 bytes limit for JSON files")
    assert files.MAX_TEXT_BYTES == 100
    monkeypatch.undo()
    assert files.MAX_TEXT_BYTES == 50 * 2**20


def test_permission_denied(tmp_path, monkeypatch):
    f = tmp_path / "secret.yaml"
    f.write_text("a: 1\n")

    def denied(path, limit):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(files, "_read_bytes", denied)
    with pytest.raises(FileError) as exc:
        load_yaml(f, what="--params")
    _one_line(exc.value, "--params", "secret.yaml", "permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_permission_denied_for_real(tmp_path):
    f = tmp_path / "secret.yaml"
    f.write_text("a: 1\n")
    f.chmod(0)
    with pytest.raises(FileError, match="permission denied"):
        load_yaml(f, what="--params")


def test_invalid_syntax_names_line_and_column(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("a: [1\n")
    with pytest.raises(FileError, match=r"x.yaml' is not valid YAML at line 2, column 1"):
        load_yaml(f, what="protocol")
    g = tmp_path / "x.json"
    g.write_text('{"a": 1,}')
    with pytest.raises(FileError, match=r"x.json' is not valid JSON at line 1, column 9"):
        load_json(g, what="input")


@pytest.mark.parametrize("depth", [150, 5000, 100_000])
def test_deeply_nested_json_and_yaml(tmp_path, depth):
    j = tmp_path / "deep.json"
    j.write_text("[" * depth + "]" * depth)
    with pytest.raises(FileError) as exc:
        load_json(j, what="input", error=ScoringError)
    _one_line(exc.value, "deep.json", "nested")
    y = tmp_path / "deep.yaml"
    y.write_text("a: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(FileError) as exc:
        load_yaml(y, what="protocol")
    _one_line(exc.value, "deep.yaml", "nested")


def test_nesting_up_to_the_limit_is_read(tmp_path):
    j = tmp_path / "ok.json"
    j.write_text("[" * files.MAX_DEPTH + "]" * files.MAX_DEPTH)
    assert load_json(j, what="input") == eval("[" * files.MAX_DEPTH + "]" * files.MAX_DEPTH)


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileError, match="expands to more than"):
        load_yaml(f, what="protocol")


def test_read_text_of_a_special_name(tmp_path):
    with pytest.raises(FileError) as exc:
        read_text(tmp_path / ("x" * 300 + ".yaml"), what="--product")
    _one_line(exc.value, "--product", "too long")
    assert files.is_file(tmp_path / ("x" * 300)) is False


# ------------------------------------------------------------------------------ outputs


def test_check_output(tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    assert (
        check_output(tmp_path / "new" / "deeper" / "t.csv") == tmp_path / "new" / "deeper" / "t.csv"
    )
    assert not (tmp_path / "new").exists()  # creates nothing
    assert check_output(plain) == plain  # replacing a file is allowed unless refused
    with pytest.raises(FileError) as exc:
        check_output(plain, overwrite=False)
    _one_line(exc.value, "--out", "notes.txt", "already exists")
    with pytest.raises(FileError) as exc:
        check_output(plain / "t.csv")
    _one_line(exc.value, "--out", "notes.txt' is a file, not a folder")
    with pytest.raises(FileError) as exc:
        check_output(plain / "a" / "b" / "t.csv")
    _one_line(exc.value, "notes.txt' is a file, not a folder")
    with pytest.raises(FileError) as exc:
        check_output(plain, folder=True)
    _one_line(exc.value, "is a file, not a folder")
    with pytest.raises(FileError) as exc:
        check_output(tmp_path, what="OUT")
    _one_line(exc.value, "OUT", "is a folder")
    assert check_output(tmp_path, folder=True) == tmp_path


def test_check_output_without_write_permission(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(FileError) as exc:
        check_output(tmp_path / "t.csv")
    _one_line(exc.value, "--out", "t.csv", "no permission to write in")


@pytest.mark.parametrize(
    ("exc", "writing", "says"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/ro/x.csv"),
            True,
            "cannot write '/ro/x.csv' (permission denied)",
        ),
        (
            NotADirectoryError(errno.ENOTDIR, "Not a directory", "f/x"),
            True,
            "part of the path is a file",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "d"),
            False,
            "'d' is a folder, not a file",
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file", "x.yaml"),
            False,
            "'x.yaml' does not exist",
        ),
        (OSError(errno.ENOSPC, "No space left", "big.csv"), True, "no space left"),
        (OSError(errno.ENAMETOOLONG, "File name too long", "y" * 300), False, "too long"),
        (
            OSError(errno.EIO, "Input/output error", "disk.csv"),
            False,
            "cannot read 'disk.csv' (Input/output error)",
        ),
    ],
)
def test_os_error_messages(exc, writing, says):
    msg = os_error_message(exc, "--out", writing=writing)
    assert msg.startswith("--out: ") and says in msg and "\n" not in msg
    assert not os_error_message(exc, None, writing=writing).startswith(":")


# ------------------------------------------------------------- every loader, one pattern


def _loaders():
    from allocart.clinical.registry import load_patients
    from allocart.model.parameters import load_overrides
    from allocart.model.products import load_product, load_regimen
    from allocart.population.calibrate import load_targets
    from allocart.population.covariates import PopulationError, load_covariate_model
    from allocart.trial.protocol import load_protocol

    return [
        ("protocol", load_protocol, DesignError, ".yaml"),
        ("product", load_product, ProductError, ".yaml"),
        ("ld", load_regimen, ProductError, ".yaml"),
        ("params", load_overrides, AllocartError, ".yaml"),
        ("input", load_patients, ScoringError, ".json"),
        ("covariates", load_covariate_model, PopulationError, ".yaml"),
        ("targets", load_targets, PopulationError, ".yaml"),
    ]


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("problem", ["missing", "folder", "not-utf8", "too-large", "nested"])
def test_every_loader_reports_file_problems_alike(tmp_path, monkeypatch, index, problem):
    what, load, error, suffix = _loaders()[index]
    path = tmp_path / f"in{suffix}"
    if problem == "folder":
        path.mkdir()
    elif problem == "not-utf8":
        path.write_bytes(b"a: caf\xe9\n")
    elif problem == "too-large":
        path.write_text('{"a": "' + "x" * 200 + '"}')
        monkeypatch.setattr(files, "MAX_TEXT_BYTES", 100)
    elif problem == "nested":
        path.write_text("[" * 200 + "]" * 200)
    with pytest.raises(FileError) as exc:
        load(path)
    assert isinstance(exc.value, error)
    msg = _one_line(exc.value, what, str(path))
    assert {
        "missing": "does not exist",
        "folder": "is a folder",
        "not-utf8": "not UTF-8",
        "too-large": "over the 100 bytes limit",
        "nested": "nested more than 100 levels",
    }[problem] in msg


@pytest.mark.parametrize(
    "text, says",
    [
        ("a: 2024-02-30\n", ["line 1, column 4", "'2024-02-30' is not a valid date", "quote it"]),
        ("a: 1\nb: [0000-01-01]\n", ["line 2, column 5", "'0000-01-01'"]),
        ("a: 2024-01-01 25:00:00\n", ["not a valid date", "hour must be in 0..23"]),
        ("a: !!int x\n", ["'x' is not a valid integer"]),
        ("a: !!timestamp x\n", ["'x' is not a valid date"]),
        ("a: !!bool maybe\n", ["'maybe' is not a valid boolean"]),
        ("a: " + "1" * 5000 + "\n", ["(5000 characters) is not a valid integer", "4300 digits"]),
    ],
    ids=[
        "impossible-date",
        "year-0",
        "hour-25",
        "int-tag",
        "timestamp-tag",
        "bool-tag",
        "5000-digits",
    ],
)
def test_yaml_values_read_by_their_form_that_are_not_are_one_line(tmp_path, text, says):
    """YAML reads an unquoted 2024-02-30 as a date and 5,000 digits as an integer: a value of that
    form that is not one is refused with its line and column, not a ValueError."""
    f = tmp_path / "v.yaml"
    f.write_text(text)
    with pytest.raises(DesignError) as exc:
        load_yaml(f, what="protocol", error=DesignError)
    msg = _one_line(exc.value, "protocol", "v.yaml", "is not valid YAML", *says)
    assert "sys.set_int_max_str_digits" not in msg


def test_json_integer_of_more_digits_than_python_converts(tmp_path):
    f = tmp_path / "r.json"
    f.write_text('{"patient_id": "P1", "age_years": ' + "9" * 5000 + "}")
    with pytest.raises(ScoringError) as exc:
        load_json(f, what="input", error=ScoringError)
    _one_line(exc.value, "r.json", "not valid JSON", "4300 digits")
