"""The ``allocart`` command line: a thin layer over the public Python API."""
