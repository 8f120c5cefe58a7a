"""pyanaconda/ui/tui/__init__.py (the package; TextUserInterface is not needed by the addon)."""
