"""Every shell command shown in README.md and docs/*.md runs as written from a fresh clone.

The commands are read from the fenced code blocks of the Markdown files (shell blocks, and
unlabelled blocks whose lines start with ``allocart`` or ``make``; a ``$`` prompt marks a
transcript whose other lines are the command's output). Comments are stripped and lines ending
in a backslash joined. Each command runs in a subprocess from a fresh temporary folder holding a
copy of ``examples/``, so the relative paths of the docs resolve and every output lands in the
temporary folder; it must exit with status 0, print no traceback and write only under ``runs/``
(the docs' output folder, ignored by git).

Long commands (virtual trials, fits, the calibration, the benchmarks) are marked
``slow`` and run by ``make test-all``; the others run in the default suite. A command that
cannot run here is listed in :data:`SKIPPED` with the reason, and
``test_every_documented_command_is_run_or_skipped_with_a_reason`` fails on a documented
command that is neither classified nor skipped, and on a skip entry that no longer matches a
documented command, so new docs get tested.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

#: Fenced blocks in these languages hold commands; unlabelled blocks hold commands only on
#: lines whose first word is one of PROGRAMS (the rest are diagrams or synopses of output).
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console", "zsh", "shell-session"})
PROGRAMS = ("allocart", "make", "python", "python3", "pip")

#: Long commands, marked slow (``make test-all``), by their first words (the first match counts).
SLOW = {
    ("allocart", "run"): "a virtual trial of hundreds or thousands of replicate trials",
    ("allocart", "calibrate"): "simulates every calibration target cohort (about 30 s on 2 cores)",
    ("allocart", "fit"): "fits the model to a dataset (minutes; NUTS longer)",
    ("allocart", "validate"): "the recovery study fits 100 simulated trials",
    ("allocart", "bench", "run"): "times the default virtual trial (about a minute)",
    ("allocart", "sensitivity"): "hundreds of model evaluations, each a virtual cohort (minutes)",
    (
        "allocart",
        "bench",
        "engine",
    ): "2000 patients with allocart, libRoadRunner and SciPy (about 80 s)",
    ("allocart", "bench", "fit"): "a 4-chain NUTS fit of one patient",
    (
        "allocart",
        "bench",
    ): "a benchmark: repeated timed runs (about 10 s each for cohort and design)",
}

#: Documented commands not run here, by their text (comments stripped), with the reason.
SKIPPED = {
    "allocart calibrate": "refits the calibration and rewrites the package's resources/calibrated.yaml; "
    "`allocart calibrate --check` is run instead",
    "allocart run no-ld --scheduler tcp://HOST:8786": "needs a running Dask scheduler (HOST stands for its "
    "address); tests/trial/test_dask.py runs replicates on one",
    "allocart run --scheduler tcp://10.0.0.5:8786": "needs a running Dask scheduler at that address; "
    "tests/trial/test_dask.py runs replicates on one",
    "allocart data check PATH [--format nonmem|sdtm] [--json]": "synopsis: PATH stands for a dataset",
    "allocart data convert SRC DEST [--format ...] [--to ...]": "synopsis: SRC and DEST stand for datasets",
    "allocart data simulate OUT [--n 6 --product ... --dose ... --ld ... --days 365 --seed 0 --noise-seed 1]": "synopsis: OUT stands for the output and ... for values",
    "allocart fit data/ --format sdtm --params rho_E,k_Trej,k_Ab,Ab0 --out runs/x": "data/ stands for the user's folder of SDTM tables",
    "allocart explore": "serves the explorer until stopped; tests/explore/test_browser.py starts it "
    "on a free port and drives it in headless chromium",
    "allocart explore --no-browser --port 8051 --product autologous-cd19 --n 200": "serves the "
    "explorer until stopped; tests/explore/test_browser.py starts it with --no-browser --port",
    "allocart fit examples/data/example_nonmem.csv --method nuts --out runs/nuts@transcript": "shows the refusal without the optional JAX extra; tests/cli/test_fit_cmds.py checks it in an "
    "interpreter that cannot import JAX",
}

#: Files a documented command may write outside runs/, with the reason.
OUTSIDE_RUNS = {
    "docs/equations.md": "`allocart export equations --out docs/equations.md` regenerates the docs' listing",
}


@dataclass(frozen=True)
class Documented:
    """One command of a Markdown file."""

    where: str  #: file:line
    words: tuple[str, ...]  #: the command split as the shell would, comments removed
    output: str = ""  #: for a transcript ($ prompt): the output shown after it
    transcript: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def key(self) -> str:
        """The name SKIPPED lists it under (a transcript is marked, as its outcome differs)."""
        return self.text + ("@transcript" if self.transcript else "")


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")


def extract(markdown: str, name: str = "") -> list[Documented]:
    """The commands of the fenced code blocks of ``markdown`` (see the module docstring)."""
    lines = markdown.splitlines()
    found: list[Documented] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].lstrip().startswith(fence):
            j += 1
        if lang in SHELL_LANGUAGES or lang == "":
            found += _commands(lines[start:j], start + 1, name, shell=lang != "")
        i = j + 1
    return found


def _commands(block: list[str], first_line: int, name: str, shell: bool) -> list[Documented]:
    # join continuation lines, remembering where each logical line starts
    logical: list[tuple[int, str]] = []
    k = 0
    while k < len(block):
        at, text = first_line + k, block[k]
        while text.rstrip().endswith("\\") and k + 1 < len(block):
            k += 1
            text = text.rstrip()[:-1] + " " + block[k].strip()
        logical.append((at, text))
        k += 1
    prompt = any(t.startswith("$ ") for _, t in logical)
    out: list[Documented] = []
    for n, (at, text) in enumerate(logical):
        if prompt:
            if not text.startswith("$ "):
                continue
            text = text[2:]
            shown = []
            for _, nxt in logical[n + 1 :]:
                if nxt.startswith("$ "):
                    break
                shown.append(nxt)
            words = tuple(shlex.split(text, comments=True))
            if words:
                out.append(
                    Documented(f"{name}:{at}", words, "\n".join(shown), transcript=bool(shown))
                )
            continue
        words = tuple(shlex.split(text, comments=True))
        if not words:
            continue
        if shell or words[0] in PROGRAMS:
            out.append(Documented(f"{name}:{at}", words))
    return out


def documented() -> list[Documented]:
    found: list[Documented] = []
    for path in MARKDOWN:
        found += extract(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    return found


def classify(cmd: Documented) -> tuple[str, str]:
    """``(tier, reason)``: tier ``skip``, ``slow``, ``default`` or ``transcript``; ``("", "")``
    for a command this module does not know how to run."""
    if cmd.key in SKIPPED:
        return "skip", SKIPPED[cmd.key]
    if cmd.words[0] == "make":
        return (
            "skip",
            "a make target: sets up .venv and runs the test suite or the default trial itself",
        )
    if cmd.words[0] != "allocart":
        return "", ""
    if cmd.transcript:
        return "transcript", "an error shown with its output"
    for prefix, reason in SLOW.items():
        if cmd.words[: len(prefix)] == prefix:
            return "slow", reason
    return "default", ""


def _unique() -> list[tuple[Documented, list[str]]]:
    """Each documented command once, with every place that shows it."""
    seen: dict[str, tuple[Documented, list[str]]] = {}
    for cmd in documented():
        seen.setdefault(cmd.key, (cmd, []))[1].append(cmd.where)
    return list(seen.values())


def _params() -> list:
    params = []
    for cmd, places in _unique():
        tier, reason = classify(cmd)
        marks = []
        if tier == "skip":
            marks.append(pytest.mark.skip(reason=f"{reason} ({', '.join(places)})"))
        elif tier == "slow":
            marks.append(pytest.mark.slow)
        elif tier == "":
            continue  # reported by test_every_documented_command_is_run_or_skipped_with_a_reason
        params.append(pytest.param(cmd, places, tier, id=cmd.key[:120], marks=marks))
    return params


def _allocart() -> list[str]:
    script = Path(sys.executable).parent / "allocart"
    return [str(script)] if script.exists() else [sys.executable, "-m", "allocart.cli.app"]


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _run(cmd: Documented, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_COLOR"))}
    return subprocess.run(
        [*_allocart(), *cmd.words[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("cmd, places, tier", _params())
def test_documented_command_runs_as_written(
    cmd: Documented, places: list[str], tier: str, tmp_path: Path
):
    where = ", ".join(places)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    if tier == "transcript":
        inputs = [
            w
            for w in cmd.words[1:]
            if not w.startswith("-") and "/" in w and not w.startswith("runs/")
        ]
        missing = [w for w in inputs if not (ROOT / w).exists()]
        if missing:
            pytest.skip(f"{where}: needs {', '.join(missing)}, which this checkout does not have")
        for w in inputs:
            top = w.split("/")[0]
            if not (tmp_path / top).exists() and top != "examples":
                (tmp_path / top).symlink_to(ROOT / top)
    before = _files(tmp_path)
    res = _run(cmd, tmp_path, timeout=3600 if tier == "slow" else 600)
    shown = f"{where}: `{cmd.text}`\nstdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.stdout + res.stderr, shown
    if tier == "transcript":
        # the documented output, as printed (the docs wrap long lines)
        assert res.returncode == (2 if cmd.output.startswith("error:") else 0), shown
        assert " ".join(cmd.output.split()) == " ".join((res.stdout + res.stderr).split()), shown
    else:
        assert res.returncode == 0, shown
    after = _files(tmp_path)
    written = sorted(k for k, v in after.items() if before.get(k) != v)
    stray = [k for k in written if not k.startswith("runs" + os.sep) and k not in OUTSIDE_RUNS]
    assert not stray, f"{where}: `{cmd.text}` wrote outside runs/: {stray}"


def test_every_documented_command_is_run_or_skipped_with_a_reason():
    commands = documented()
    unknown = [f"{c.where}: {c.text}" for c in commands if classify(c)[0] == ""]
    assert not unknown, (
        "documented commands this test cannot run; make them `allocart ...` commands or "
        f"list them in SKIPPED with the reason: {unknown}"
    )
    keys = {c.key for c in commands}
    stale = [k for k in SKIPPED if k not in keys]
    assert not stale, f"SKIPPED lists commands the docs no longer show; remove them: {stale}"
    for k, reason in SKIPPED.items():
        assert reason.strip(), k


def test_the_docs_show_the_commands_this_test_expects():
    # a check of the parser on the real files: the README's first command, a continuation line
    # of docs/fitting.md, a transcript, and no line of a diagram or of a Python block
    commands = documented()
    texts = {c.text for c in commands}
    assert len(commands) >= 40
    assert (
        "allocart simulate --product allogeneic-cd19cd20 --dose 3e8 --ld flu-cy --n 100 --seed 1 "
        "--out runs/sim.parquet"
    ) in texts
    assert any(c.words[:2] == ("allocart", "fit") and "--truth" in c.words for c in commands)
    assert any(c.transcript and c.output.startswith("error:") for c in commands)
    assert all(c.words[0] in PROGRAMS for c in commands)
    tiers = {classify(c)[0] for c in commands}
    assert {"default", "slow", "skip"} <= tiers


def test_documented_outputs_go_under_runs():
    # every output option and output argument of a documented command is a path under runs/
    # (or one of OUTSIDE_RUNS)
    for cmd in documented():
        w = cmd.words
        outs = [w[i + 1] for i, x in enumerate(w[:-1]) if x == "--out"]
        if w[:3] == ("allocart", "data", "convert") and len(w) > 4:
            outs.append(w[4])
        if w[:3] == ("allocart", "data", "simulate") and len(w) > 3:
            outs.append(w[3])
        for out in outs:
            if classify(cmd)[0] == "skip" and out.isupper():
                continue  # a synopsis placeholder
            assert out.startswith("runs/") or out in OUTSIDE_RUNS, (
                f"{cmd.where}: `{cmd.text}` writes {out}"
            )


def test_extract_parses_blocks_comments_continuations_and_transcripts():
    md = """
Text `allocart not-a-block`.

```sh
make demo   # a comment
allocart simulate --n 2 \\
    --out runs/x.csv      # joined
# a whole-line comment
```

```python
allocart = "not a command"
```

```
a diagram ─> allocart.clinical
allocart products            # built-in products; allocart hidden --in-a-comment
```

```
$ allocart data check missing.csv
error: missing.csv: not found
$ allocart products
```
"""
    got = extract(md, "x.md")
    assert [(c.where, c.text, c.transcript) for c in got] == [
        ("x.md:5", "make demo", False),
        ("x.md:6", "allocart simulate --n 2 --out runs/x.csv", False),
        ("x.md:17", "allocart products", False),
        ("x.md:21", "allocart data check missing.csv", True),
        ("x.md:23", "allocart products", False),
    ]
    assert got[3].output == "error: missing.csv: not found"
    assert classify(got[0])[0] == "skip" and classify(got[1])[0] == "default"
    assert classify(Documented("x", ("allocart", "run")))[0] == "slow"
    assert classify(Documented("x", ("pip", "install", "allocart")))[0] == ""
