"""Reports of virtual trial runs: figures (:mod:`allocart.report.figures`) and the
self-contained HTML page (:mod:`allocart.report.html`)."""
