"""pyanaconda/ui/categories/__init__.py."""

from abc import ABC, abstractmethod

__all__ = ["SpokeCategory"]


class SpokeCategory(ABC):
    @staticmethod
    @abstractmethod
    def get_title():
        return ""

    @staticmethod
    @abstractmethod
    def get_sort_order():
        return 0
