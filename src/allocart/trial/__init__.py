"""Virtual investigator-initiated trials: protocol, virtual-patient pools, replicate trials,
run folder and summaries.

Public API::

    from allocart.trial import resolve_protocol, run_trial
    result = run_trial(resolve_protocol("default"), "runs/default")
    result.report  # path of report.html
"""

from allocart.trial.builtin import DEFAULT_SCENARIO as DEFAULT_SCENARIO
from allocart.trial.builtin import list_scenarios as list_scenarios
from allocart.trial.builtin import resolve_protocol as resolve_protocol
from allocart.trial.protocol import Protocol as Protocol
from allocart.trial.protocol import load_protocol as load_protocol
from allocart.trial.protocol import protocol_from_dict as protocol_from_dict
from allocart.trial.runner import RunResult as RunResult
from allocart.trial.runner import run_trial as run_trial
from allocart.trial.summary import oc_wide as oc_wide

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
