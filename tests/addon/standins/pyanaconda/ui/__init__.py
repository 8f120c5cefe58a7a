"""pyanaconda/ui/__init__.py (the package; UserInterface is not needed by the addon)."""
