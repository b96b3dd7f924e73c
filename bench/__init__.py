"""`make bench`: Galley under load from wrk, beside the references that bound it.

`python -m bench --help` lists the options; docs/performance.md says what each figure means.
"""
