"""Just enough of python-meh (Anaconda's exception reporter, not on PyPI) for
pyanaconda.ui.tui to import; the spoke tests never start its interface. Used only by
`make addon-compat`."""
