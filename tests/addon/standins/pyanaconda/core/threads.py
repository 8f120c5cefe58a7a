"""pyanaconda/core/threads.py: thread_manager and AnacondaThread (a daemon thread that
leaves the manager when its target returns)."""

import threading


class AnacondaThread(threading.Thread):
    _prefix_thread_counts = {}

    def __init__(self, *args, **kwargs):
        prefix = kwargs.pop("prefix", None)
        if prefix:
            count = self._prefix_thread_counts.get(prefix, 0) + 1
            self._prefix_thread_counts[prefix] = count
            kwargs["name"] = prefix + str(count)
        kwargs.pop("fatal", None)
        super().__init__(*args, **kwargs)
        self.daemon = True

    def run(self):
        try:
            super().run()
        finally:
            thread_manager.remove(self.name)


class ThreadManager:
    def __init__(self):
        self._objs = {}
        self._lock = threading.Lock()

    def add(self, obj):
        with self._lock:
            self._objs[obj.name] = obj
        obj.start()

    def add_thread(self, *args, **kwargs):
        self.add(AnacondaThread(*args, **kwargs))

    def remove(self, name):
        with self._lock:
            self._objs.pop(name, None)

    def exists(self, name):
        with self._lock:
            return name in self._objs

    def get(self, name):
        with self._lock:
            return self._objs.get(name)

    def wait(self, name):
        thread = self.get(name)
        if thread is not None:
            thread.join()

    def wait_all(self):
        while True:
            with self._lock:
                threads = list(self._objs.values())
            if not threads:
                return
            for thread in threads:
                thread.join()


thread_manager = ThreadManager()
