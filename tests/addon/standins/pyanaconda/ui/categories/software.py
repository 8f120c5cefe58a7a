"""pyanaconda/ui/categories/software.py."""

from pyanaconda.ui.categories import SpokeCategory

__all__ = ["SoftwareCategory"]


class SoftwareCategory(SpokeCategory):
    @staticmethod
    def get_title():
        return "SOFTWARE"

    @staticmethod
    def get_sort_order():
        return 200
