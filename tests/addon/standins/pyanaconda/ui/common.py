"""pyanaconda/ui/common.py: UIObject, Spoke, NormalSpoke and Hub with the real signatures
and defaults. The lifecycle controller is a list of the spokes that started and finished
initializing (the real one gates the hub on them)."""

from abc import ABC, abstractmethod

from pyanaconda.core.signal import Signal

INITIALIZATION = []


class UIObject:
    def __init__(self, data):
        if self.__class__ is UIObject:
            raise TypeError("UIObject is an abstract class")
        self.skipTo = None
        self._data = data

    def initialize(self):
        pass

    def refresh(self):
        pass

    @property
    def showable(self):
        return True

    def teardown(self):
        pass

    @property
    def data(self):
        return self._data


class Screen(ABC):  # noqa: B024 - as the real one
    @staticmethod
    def get_screen_id():
        return None


class Spoke(Screen):
    category = None
    icon = None
    title = None

    def __init__(self, storage, payload):
        self._storage = storage
        self._payload = payload
        self.applyOnSkip = False
        self.entered = Signal()
        self.exited = Signal()

    @property
    @abstractmethod
    def data(self):
        pass

    @property
    def storage(self):
        return self._storage

    @property
    def payload(self):
        return self._payload

    @classmethod
    def should_run(cls, environment, data):
        return environment == "anaconda"

    def apply(self):
        raise NotImplementedError

    @property
    def changed(self):
        return True

    @property
    def completed(self):
        return False

    @property
    def sensitive(self):
        return True

    @property
    def mandatory(self):
        return True

    def execute(self):
        pass

    @property
    def status(self):
        raise NotImplementedError

    def finished(self):
        pass

    def initialize_start(self):
        INITIALIZATION.append(("start", self.__class__.__name__))

    def initialize_done(self):
        INITIALIZATION.append(("done", self.__class__.__name__))

    def __repr__(self):
        return self.__class__.__name__


class NormalSpoke(Spoke):
    def __init__(self, storage, payload):
        super().__init__(storage, payload)
        self.selector = None

    @property
    def indirect(self):
        return False

    @property
    def ready(self):
        return True


class Hub(Screen):
    def __init__(self, storage, payload):
        self._storage = storage
        self.payload = payload
        self.paths = {}
        self._spokes = {}
        self.entered = Signal()
        self.exited = Signal()

    @property
    @abstractmethod
    def data(self):
        pass

    @property
    def storage(self):
        return self._storage
