"""pyanaconda/modules/common/task/{task,task_interface,__init__}.py: a task runs `run()` in a
thread; its D-Bus object reports progress and re-raises the failure from Finish()."""

import threading
from abc import abstractmethod
from time import sleep

from dasbus.server.interface import dbus_interface, dbus_signal
from dasbus.server.publishable import Publishable
from dasbus.server.template import InterfaceTemplate
from dasbus.typing import Bool, Int, Str, Tuple

from pyanaconda.core.signal import Signal


@dbus_interface("org.fedoraproject.Anaconda.Task")
class TaskInterface(InterfaceTemplate):
    def connect_signals(self):
        self.implementation.progress_changed_signal.connect(self.ProgressChanged)
        self.implementation.stopped_signal.connect(self.Stopped)

    @property
    def Name(self) -> Str:
        return self.implementation.name

    @property
    def Progress(self) -> Tuple[Int, Str]:
        return self.implementation.progress

    @dbus_signal
    def ProgressChanged(self, step: Int, message: Str):
        pass

    @dbus_signal
    def Stopped(self):
        pass

    @property
    def IsRunning(self) -> Bool:
        return self.implementation.is_running

    def Start(self):
        self.implementation.start()

    def Finish(self):
        self.implementation.finish()


class Task(Publishable):
    def __init__(self):
        super().__init__()
        self.progress_changed_signal = Signal()
        self.stopped_signal = Signal()
        self._progress = (0, "")
        self._thread = None
        self._error = None

    @property
    @abstractmethod
    def name(self):
        return ""

    @property
    def progress(self):
        return self._progress

    def report_progress(self, message, step_number=None, step_size=None):
        self._progress = (step_number or self._progress[0], message)
        self.progress_changed_signal.emit(*self._progress)

    @property
    def is_running(self):
        return self._thread is not None and self._thread.is_alive()

    def for_publication(self):
        return TaskInterface(self)

    def start(self):
        def target():
            try:
                self.run()
            except Exception as e:  # noqa: BLE001 - re-raised by finish()
                self._error = e
            finally:
                self.stopped_signal.emit()

        self._thread = threading.Thread(target=target, name=f"AnaTaskThread-{type(self).__name__}")
        self._thread.start()

    def finish(self):
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error

    def run_with_signals(self):
        try:
            return self.run()
        finally:
            self.stopped_signal.emit()

    @abstractmethod
    def run(self):
        return None


def sync_run_task(task_proxy, callback=None):
    task_proxy.Start()
    while task_proxy.IsRunning:
        if callback:
            callback(task_proxy)
        sleep(0.1)
    task_proxy.Finish()
