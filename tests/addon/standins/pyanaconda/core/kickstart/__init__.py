"""pyanaconda/core/kickstart/__init__.py."""

from pyanaconda.core.kickstart.specification import KickstartSpecification

__all__ = ["KickstartSpecification"]
