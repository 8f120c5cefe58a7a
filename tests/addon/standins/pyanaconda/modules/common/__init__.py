"""pyanaconda/modules/common/__init__.py."""

import sys


def init(log_filename=None, log_stream=sys.stderr):
    import logging

    logging.basicConfig(level=logging.DEBUG, handlers=[logging.StreamHandler(log_stream)] if log_stream else [])
