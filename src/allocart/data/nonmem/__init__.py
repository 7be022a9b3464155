"""NONMEM-style datasets (one CSV, one row per dose or observation) to and from a Dataset.

Columns read (case-insensitive; ``.`` or empty = missing):

=========  ==========================================================================
``ID``     subject (``USUBJID``, when present, gives the subject id instead)
``TIME``   time, in :attr:`NonmemSpec.time_unit` (days by default)
``EVID``   0 observation, 1 dose, 2 other event (skipped); 3 and 4 (resets) are refused.
           Without EVID a row is a dose when AMT > 0, else an observation.
``AMT``    dose amount, in ``AMTU`` (default unit per dose kind, :attr:`NonmemSpec.dose_units`)
``CMT``    dose compartment -> dose kind (:attr:`NonmemSpec.dose_cmt`)
``DV``     observed value (natural scale, or natural log with ``log_dv``; one whose exp
           overflows is refused)
``MDV``    1 = no observation on this row (skipped unless ``BLQ`` = 1)
``DVID``   observation type -> read-out (:attr:`NonmemSpec.observable_codes`; the column is
           :attr:`NonmemSpec.obs_column`, e.g. ``CMT``); codes may also be read-out names
``BLQ``    1 = below the LLOQ (censored; the value becomes ``LLOQ``)
``LLOQ``   lower limit of quantification, in the read-out's unit
``ADDL``,  additional doses (0 to 1000) every ``II`` (expanded); ``SS`` and ``RATE`` other
``II``     than 0 are refused (steady state and zero-order input have no meaning for cells)
``C``      comment flag: rows with a non-empty ``C`` (other than ``.``) are skipped
=========  ==========================================================================

Covariates, first non-missing value per subject: ``WT`` (kg), ``HT`` (cm), ``BSA`` (m2),
``AGE`` (years), ``FEMALE`` (0/1) or ``SEX`` (``F``/``M``; numeric codes need
:attr:`NonmemSpec.sex_female_code`), ``PRODUCT``, ``LD``, ``INFDATE`` (ISO date of the
infusion).

Times are shifted per subject so that the first CAR-T dose is day 0 (the dataset
convention); a subject without a CAR-T dose is an error naming the compartments seen.
"""

from allocart.data.nonmem.reader import read_nonmem
from allocart.data.nonmem.spec import NonmemSpec
from allocart.data.nonmem.writer import write_nonmem

__all__ = ["NonmemSpec", "read_nonmem", "write_nonmem"]
