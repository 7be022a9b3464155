"""Reports: self-contained HTML pages built from finished results, on one kit.

Each writer takes what its layer below produced and writes one ``report.html`` with its figures
embedded (:mod:`allocart.report.kit`: the page, style sheet and figure helpers):

* :func:`write_trial_report`: a virtual trial's run folder (``results.duckdb``), the report of
  ``allocart run`` (:mod:`allocart.report.html`, figures in :mod:`allocart.report.figures`);
* :func:`write_fit_report`: a fit's output folder (:mod:`allocart.report.fit`);
* :func:`write_calibration_report`: the calibration check of the virtual population
  (:mod:`allocart.report.calibration`);
* :func:`write_sensitivity_report`: a sensitivity study's folder
  (:mod:`allocart.report.sensitivity`).

The runners take a writer as an argument (``run_trial(..., report=write_trial_report)``), so
the trial, fit and sensitivity layers never import this one. The writers load on first use
(PEP 562): each pulls in matplotlib and the results it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allocart._lazy import lazy_exports

# Public name -> (module, name there).
_LAZY: dict[str, tuple[str, str]] = {
    "write_trial_report": ("allocart.report.html", "write_report"),
    "render_trial_report": ("allocart.report.html", "render_report"),
    "write_fit_report": ("allocart.report.fit", "write_report"),
    "write_calibration_report": ("allocart.report.calibration", "write_report"),
    "write_sensitivity_report": ("allocart.report.sensitivity", "write_sensitivity_report"),
    "render_sensitivity_report": ("allocart.report.sensitivity", "render_sensitivity_report"),
}

__all__ = [
    "render_sensitivity_report",
    "render_trial_report",
    "write_calibration_report",
    "write_fit_report",
    "write_sensitivity_report",
    "write_trial_report",
]


__getattr__, __dir__ = lazy_exports("allocart.report", globals(), _LAZY)


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from allocart.report.calibration import write_report as write_calibration_report
    from allocart.report.fit import write_report as write_fit_report
    from allocart.report.html import render_report as render_trial_report
    from allocart.report.html import write_report as write_trial_report
    from allocart.report.sensitivity import (
        render_sensitivity_report,
        write_sensitivity_report,
    )
