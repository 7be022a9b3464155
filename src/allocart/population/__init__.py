"""The virtual SLE population: covariates, variability, clinical records, calibration.

Public API::

    from allocart.population.cohort import simulate_cohort
    res = simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=400, seed=1)
    res.summary()            # the ``allocart cohort --json`` keys
    res.records(0)           # clinical records of patient 0, scored by allocart.clinical

``allocart calibrate`` fits the population-level link parameters to the published summary
targets (``population/data/targets.yaml``) and writes ``data/calibrated.yaml`` and a report.
"""
