"""CDISC ADaM tables of a patient dataset or of a virtual trial: ADSL, ADAE and ADPC.

``allocart data adam --dataset FILE|--run FOLDER --out DIR`` writes them;
:func:`adam_input_from_dataset` and :func:`adam_input_from_run` read the inputs,
:func:`build_adam` builds the tables and :func:`write_adam` writes them (SAS XPORT v5 or CSV).
"""

from allocart.data.adam.adae import build_adae
from allocart.data.adam.adpc import build_adpc
from allocart.data.adam.adsl import build_adsl
from allocart.data.adam.from_dataset import adam_input_from_dataset
from allocart.data.adam.from_run import adam_input_from_run
from allocart.data.adam.inputs import AdamInput
from allocart.data.adam.writer import ADAM_FORMATS, ADAM_TABLES, build_adam, write_adam

__all__ = [
    "ADAM_FORMATS",
    "ADAM_TABLES",
    "AdamInput",
    "adam_input_from_dataset",
    "adam_input_from_run",
    "build_adae",
    "build_adam",
    "build_adpc",
    "build_adsl",
    "write_adam",
]
