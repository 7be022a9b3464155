"""Error types raised by allocart.

Every error raised on user input is an :class:`AllocartError` whose message names the
offending field, shows its value and says what to do. The command line prints such errors as
one line, without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AllocartError",
    "ModelError",
    "ParameterError",
    "ProductError",
    "DatasetError",
    "ScoringError",
    "DesignError",
    "SolverError",
    "FileError",
    "FitError",
    "PopulationError",
    "DataError",
    "SensitivityError",
]


class AllocartError(ValueError):
    """Base class of every error allocart raises about its input.

    Parameters
    ----------
    message : str
        One line: the argument, its value, and what to do.
    argument : str, optional
        The Python name of the offending argument (``"dose"``), when the message names one.
        The command line replaces that name in the message by the option the user typed
        (``--dose``), so the library speaks of arguments and the command line of flags.
    """

    def __init__(self, *args: object, argument: str | None = None) -> None:
        super().__init__(*args)
        self.argument = argument


class ModelError(AllocartError):
    """The model definition or a scenario built on it is inconsistent."""


class ParameterError(ModelError):
    """A parameter is unknown, has the wrong unit, or lies outside its allowed range."""


class ProductError(ModelError):
    """A CAR-T product, dose or lymphodepletion regimen is unknown or malformed."""


class DatasetError(AllocartError):
    """A patient data file (NONMEM, SDTM, JSON records) is malformed."""


DataError = DatasetError  # the name ``allocart.data`` uses; one class, two spellings


class DataValidationError(DatasetError):
    """Problems found in a dataset; ``problems`` lists each with its file, row and column.

    Parameters
    ----------
    problems : sequence
        The problems (:class:`allocart.data.Problem`), each printable as one line.
    limit : int
        How many are shown in the message; the rest are counted.
    """

    def __init__(self, problems: Sequence[object], limit: int = 5) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:limit])
        more = len(self.problems) - limit
        if more > 0:
            shown += (
                f"; ... and {more} more problem(s) (all in the error's `problems`; "
                "`allocart data check` lists them)"
            )
        super().__init__(shown)


class ScoringError(AllocartError):
    """Clinical records cannot be scored as given."""


class DesignError(AllocartError):
    """A dose-finding design or trial protocol is malformed."""


class SolverError(AllocartError):
    """The ODE solver was configured wrongly (failures of single patients are reported, not raised)."""


class FileError(AllocartError):
    """A file or folder named by the user cannot be read or written as given.

    Missing, a folder where a file is expected, unreadable, too large, not UTF-8, not valid YAML
    or JSON, nested too deeply, or an output path that cannot be written. Raised by
    :mod:`allocart.files`; the instance is also of the loader's own class (``DesignError`` for a
    protocol, ``ProductError`` for a product, ...).
    """


class FitError(AllocartError):
    """A fit cannot be set up or run as asked (unknown parameter, no data, bad option)."""


class PopulationError(AllocartError):
    """A covariate model, link table, schedule or population request is malformed."""


class SensitivityError(AllocartError):
    """A sensitivity analysis cannot be set up or analysed as asked."""
