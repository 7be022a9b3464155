"""Progress bars of long commands: on stderr, only on a terminal, throttled; --json stays JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from allocart.cli.progress import ProgressBar

#: Rich draws live progress when these say stderr is an interactive terminal.
TERMINAL = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"}


def _allocart(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_COLOR"))}
    env.update(env_extra)
    script = Path(sys.executable).parent / "allocart"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "allocart.cli.app"]
    return subprocess.run(
        [*cmd, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def _crm_oc(trials: int) -> list[str]:
    """``allocart design oc`` of a CRM over ``trials`` simulated trials, as JSON: long enough
    (seconds) for its progress bar to be drawn."""
    p_tox = "0.05,0.12,0.25,0.4,0.55"
    return ["design", "oc", "--design", "crm", "--p-tox", p_tox, "--trials", str(trials), "--json"]


@pytest.mark.parametrize(
    "args, drawn",
    [
        (_crm_oc(4000), "crm: simulating trials"),
        (
            ["cohort", "--product", "autologous-cd19", "--dose", "1e6/kg", "--n", "30", "--json"],
            "virtual patients",
        ),
    ],
)
def test_json_output_stays_valid_json_with_the_progress_bar_drawn(args, drawn, tmp_path):
    res = _allocart(args, TERMINAL, tmp_path)
    assert res.returncode == 0, res.stderr
    json.loads(res.stdout)  # nothing of the bar on stdout
    assert "\x1b[" not in res.stdout
    assert drawn in res.stderr and "\x1b[" in res.stderr  # the bar was drawn, on stderr


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    res = _allocart(_crm_oc(2000), {"TTY_INTERACTIVE": "0"}, tmp_path)
    assert res.returncode == 0, res.stderr
    json.loads(res.stdout)
    assert res.stderr == ""


def test_data_simulate_draws_its_bar_on_stderr_and_writes_the_dataset(tmp_path):
    res = _allocart(
        ["data", "simulate", "runs/trial.csv", "--n", "3", "--seed", "1"], TERMINAL, tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "simulating 3 virtual patients" in res.stderr
    assert res.stdout.startswith("wrote runs/trial.csv: 3 subjects")
    assert (tmp_path / "runs" / "trial.csv").is_file()


def test_updates_are_throttled_but_the_last_step_and_a_new_stage_always_show(monkeypatch):
    for k, v in TERMINAL.items():
        monkeypatch.setenv(k, v)
    with ProgressBar("counting", total=1000, min_interval=3600) as bar:
        assert bar.enabled
        task = bar._progress.tasks[0]
        for i in range(1, 1000):
            bar.update(i)
        assert task.completed == 0  # every update within the interval was dropped
        bar.update(1000)
        assert task.completed == 1000 and task.total == 1000
        bar.update(5, 20, description="next stage")
        assert (task.completed, task.total, task.description) == (5, 20, "next stage")
        bar.update(6, description="renamed")
        assert (task.completed, task.description) == (6, "renamed")
        cb = bar.callback()
        cb(20, 20)
        assert task.completed == 20


def test_a_disabled_bar_does_nothing(monkeypatch):
    monkeypatch.setenv("TTY_INTERACTIVE", "0")
    with ProgressBar("x", total=3) as bar:
        assert not bar.enabled
        bar.update(1)
        bar.stage("y", 2)
        bar.callback()(2, 2)
    with ProgressBar("x", total=3, enabled=False) as bar:
        assert not bar.enabled
