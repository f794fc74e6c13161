"""The Qt binding itself: signal emission must not leak or drop references (PySide6 6.12.0 did)."""

import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    fired = Signal(object)


def test_emitting_to_python_slots_keeps_the_reference_count_of_true(qapp):
    emitter = Emitter()
    received = []
    emitter.fired.connect(lambda value: received.append(value))
    emitter.fired.connect(lambda value: True)
    before = sys.getrefcount(True)
    for i in range(1000):
        emitter.fired.emit(i)
    # 6.12.0 lost one reference per emission: a long live-plotting session then aborted the interpreter
    # ("bool_dealloc: deallocating True or False").
    assert abs(sys.getrefcount(True) - before) < 10
    assert len(received) == 1000
