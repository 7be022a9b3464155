"""Virtual investigator-initiated trials: protocol, virtual-patient pools, replicate trials,
run folder and summaries.

Public API::

    from allocart.report.html import write_report
    from allocart.trial import resolve_protocol, run_trial
    result = run_trial(resolve_protocol("default"), "runs/default", report=write_report)
    result.report  # path of report.html (written by the report layer's writer)
"""

from allocart.trial.builtin import DEFAULT_SCENARIO, list_scenarios, resolve_protocol
from allocart.trial.protocol import Protocol, load_protocol, protocol_from_dict
from allocart.trial.runner import RunResult, run_trial
from allocart.trial.summary import oc_wide

__all__ = [
    "DEFAULT_SCENARIO",
    "list_scenarios",
    "resolve_protocol",
    "Protocol",
    "load_protocol",
    "protocol_from_dict",
    "RunResult",
    "run_trial",
    "oc_wide",
]
