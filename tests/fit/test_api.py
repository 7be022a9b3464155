"""What ``allocart fit`` says when a fit has not converged."""

import pytest

from allocart.errors import FitError
from allocart.fit.api import FitOptions, convergence_warning


def test_a_converged_fit_says_nothing():
    assert convergence_warning({"converged": True, "max_r_hat": 1.01, "divergences": 0}) is None


def test_an_unconverged_sampler_names_its_diagnostics():
    msg = convergence_warning(
        {"converged": False, "divergences": 600, "max_r_hat": 28045637.98, "min_ess_bulk": 4.0}
    )
    assert msg.startswith("warning: the sampler has not converged: 600 divergent transitions")
    assert "max R-hat 2.8e+07" in msg and "min bulk ESS 4" in msg and "--warmup" in msg


def test_one_chain_has_no_r_hat_and_says_so():
    msg = convergence_warning(
        {"converged": False, "divergences": 0, "max_r_hat": None, "min_ess_bulk": None}
    )
    assert "max R-hat n/a" in msg


def test_an_unconverged_point_estimate_says_how_many_patients_converged():
    msg = convergence_warning({"converged": False, "patients_converged": 13, "iterations": 60})
    assert "13 patient mode search(es) converged" in msg


@pytest.mark.parametrize(
    ("fields", "argument"),
    [
        ({"method": "mcmc"}, "method"),
        ({"level": "cohort"}, "level"),
        ({"horizon": -1.0}, "horizon"),
        ({"chains": 0}, "chains"),
        ({"warmup": 0}, "warmup"),
        ({"samples": 2.5}, "samples"),
        ({"backend": "gpu"}, "backend"),
    ],
)
def test_option_errors_name_the_python_argument(fields, argument):
    """Library messages start with the argument a Python caller passed (the command line
    replaces it by its flag), and carry it as ``FitError.argument``."""
    with pytest.raises(FitError, match=rf"^{argument}: ") as info:
        FitOptions(**fields)
    assert info.value.argument == argument
    assert "--" not in str(info.value)


def test_public_api_lists_the_fit_functions_and_loads_no_jax():
    """``allocart.fit`` exports the fit, its standard outputs and diagnostics; importing it does
    not load JAX (the optional extra that only NUTS and the ``jax`` backend need)."""
    import subprocess
    import sys

    import allocart.fit as fit

    wanted = {
        "fit_dataset",
        "run_fit",
        "write_standard_outputs",
        "OutputOptions",
        "weighted_residuals",
        "npde",
        "vpc_table",
        "write_inference_data",
        "fit_population_its",
        "FitError",
    }
    assert wanted <= set(fit.__all__)
    assert all(getattr(fit, name, None) is not None for name in fit.__all__)
    assert len(set(fit.__all__)) == len(fit.__all__)
    code = "import sys, allocart.fit; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
