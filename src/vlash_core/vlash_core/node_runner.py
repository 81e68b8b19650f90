"""How every VLASH node process runs and describes its parameters.

Each node runs in the ``rclpy.init()`` context on one single-threaded executor, and declares each
parameter once with a descriptor (description and, where it has one, its range).

A single-threaded executor delivers every timer tick on time on these 2-core machines, where
``MultiThreadedExecutor`` lost most callbacks (rclpy issues #1452, #1223); work that may take long
(the model) runs in a node's own thread instead.

A node whose Python thread does heavy work beside its callbacks (the policy's inference) runs
them on rclpy's ``EventsExecutor`` instead (``event_driven=True``): ``SingleThreadedExecutor``
rebuilds its wait set in Python before every callback, which was half of the policy's callback
thread (py-spy, 50 Hz) and took the GIL from the inference thread each time. ``EventsExecutor``
waits and dispatches in C++: in the live loop that thread fell from 11 to 6 % of a core.

A node whose constructor fails (a bad parameter, a missing checkpoint) exits with status 1 and
that one error on stderr, as ``<executable>: failed to start: <error>``
(:data:`START_FAILURE`); the launcher shows that line.
"""

import gc
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.experimental import EventsExecutor
from rclpy.node import Node

START_FAILURE = "failed to start:"
# How long after a failed call on a handle rclpy may still report ok() while SIGINT shuts it down.
_SHUTDOWN_RACE_S = 2.0
# Errors of the configuration (parameters, files) rather than of the code: their message alone
# says what to fix, a traceback would only bury it.
_CONFIGURATION_ERRORS = (
    ValueError,
    TypeError,
    OSError,
    ParameterException,
    NameValidationException,
)

NodeT = TypeVar("NodeT", bound=Node)


def create_node(make_node: Callable[[], NodeT]) -> NodeT:
    """``make_node()``; if it raises, print its error alone and exit with status 1.

    Call it inside the rclpy context. A half-built node stays referenced by the traceback's
    frames, and the context's shutdown would call ``destroy_node()`` on it, failing again on
    attributes the constructor never set; the failure is therefore reported from a string and
    the node collected before the context shuts down.
    """
    try:
        return make_node()
    except _CONFIGURATION_ERRORS as error:
        detail = f"{type(error).__name__}: {error}"
    except Exception:
        detail = traceback.format_exc().rstrip()
    gc.collect()
    program = os.path.basename(sys.argv[0]) or "node"
    print(f"{program}: {START_FAILURE} {detail}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def _context_shuts_down_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while rclpy.ok():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# How often an EventsExecutor's spin returns to Python, where a pending SIGINT raises.
_EVENTS_SPIN_SLICE_S = 0.1


def _spin(executor: Executor, *, event_driven: bool) -> None:
    if not event_driven:
        executor.spin()
        return
    # With rclpy 9.1 (the Kilted wheels), EventsExecutor.spin() ran no timer callback in 3 s and
    # ignored SIGINT until killed; spin_once slices run every callback and return to Python,
    # where a pending SIGINT raises, at least every slice.
    while rclpy.ok():
        executor.spin_once(timeout_sec=_EVENTS_SPIN_SLICE_S)


def run_node(
    make_node: Callable[[], Node], args: list[str] | None = None, *, event_driven: bool = False
) -> None:
    """Create the node inside an rclpy context and spin it until Ctrl-C or shutdown.

    ``event_driven`` spins it on ``EventsExecutor`` rather than ``SingleThreadedExecutor``.
    """
    try:
        with rclpy.init(args=args):
            node = create_node(make_node)
            # What start-up built lives as long as the node; frozen, the collector's full
            # passes no longer scan it while callbacks run.
            gc.collect()
            gc.freeze()
            executor = EventsExecutor() if event_driven else SingleThreadedExecutor()
            executor.add_node(node)
            try:
                _spin(executor, event_driven=event_driven)
            except RuntimeError:
                # SIGINT shuts the context down from rclpy's signal thread even while spin is
                # inside a call on a handle (a take, a publish in a callback), which then fails
                # with a RuntimeError, sometimes a moment before rclpy.ok() turns false. Only
                # that case is a clean stop.
                if not _context_shuts_down_within(_SHUTDOWN_RACE_S):
                    raise
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def parameter_descriptor(
    description: str,
    *,
    floats: tuple[float, float] | None = None,
    ints: tuple[int, int] | None = None,
) -> ParameterDescriptor:
    """Descriptor of one parameter: its description and an optional inclusive range."""
    descriptor = ParameterDescriptor(description=description)
    if floats is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=floats[0], to_value=floats[1])
        ]
    if ints is not None:
        descriptor.integer_range = [IntegerRange(from_value=ints[0], to_value=ints[1], step=1)]
    return descriptor


# Declared by every node that shares the machine with the executor (policy, simulator, recorder).
AVOID_CONTROL_CPU = (
    "avoid_control_cpu",
    True,
    parameter_descriptor(
        "Keep every thread off the CPU the executor keeps to itself (the last one, when there "
        "are two or more): vlash_core.cpu_placement."
    ),
)
