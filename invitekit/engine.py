"""The sans-IO machine engine the join and refresh machines run on.

A machine never performs I/O. It exposes one :class:`Need` at a time (``machine.need``);
the driver performs it and answers with :meth:`Machine.send`. Each need names the result
types it accepts (:meth:`Need.accept`); any other answer is a
:class:`~invitekit.errors.FlowStateError` and leaves the machine unchanged. The machine
ends on :class:`Finished`, which carries its typed outcome.

The transitions themselves live in one generator per machine (``yield from ask(need)``
suspends it until the driver answers), so a machine's whole control flow — order,
retries, fall-through — reads top to bottom in one function, and every decision on the
way is a pure function of the core.

The concrete needs and the answers they accept are :mod:`invitekit.needs`'s.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

from .errors import FlowStateError

R = TypeVar("R")
T = TypeVar("T")


class Phase(enum.StrEnum):
    """The machine's state, named after what it waits for."""

    FETCH = "fetch"  # candidates from the invite's services
    COMMIT = "commit"  # the caller's external commit
    RESOLVE = "resolve"  # base URLs for opaque refresh pointers
    WAIT = "wait"  # a jitter or backoff delay
    CHECK = "check"  # an existence query
    UPLOAD = "upload"  # uploads of a sealed blob
    DONE = "done"  # finished: see Finished.outcome


class Need(Generic[R]):
    """A request for I/O. ``accepts`` lists the result types a driver may answer with."""

    phase: ClassVar[Phase]
    accepts: ClassVar[tuple[type, ...]]

    def accept(self, result: object) -> R:
        """``result`` typed as this need's answer; FlowStateError for anything else."""
        if not isinstance(result, self.accepts):
            wanted = " or ".join(t.__name__ for t in self.accepts)
            raise FlowStateError(
                f"{type(self).__name__} needs {wanted}, got {type(result).__name__}"
            )
        return cast(R, result)


@dataclass(frozen=True)
class Finished(Generic[T]):
    """The machine is done; ``outcome`` is its typed result."""

    phase: ClassVar[Phase] = Phase.DONE
    outcome: T


Steps = Generator[Need[Any], object, T]


def ask(need: Need[R]) -> Generator[Need[Any], object, R]:
    """Suspend the machine on ``need``; resume with the driver's (type-checked) answer."""
    result = yield need
    return need.accept(result)


class Machine(Generic[T]):
    """Drives a machine's step generator: one :attr:`need` at a time, :meth:`send` answers."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self._failed: BaseException | None = None
        self._need: Need[Any] | Finished[T] = self._resume(None)

    @property
    def need(self) -> Need[Any] | Finished[T]:
        """What the machine waits for now (a :class:`Finished` once done)."""
        return self._need

    @property
    def phase(self) -> Phase:
        """The current state."""
        return self._need.phase

    @property
    def outcome(self) -> T:
        """The result; FlowStateError until the machine has finished."""
        if not isinstance(self._need, Finished):
            raise FlowStateError(f"the machine still waits for {type(self._need).__name__}")
        return self._need.outcome

    def send(self, result: object) -> Need[Any] | Finished[T]:
        """Answer the current need; returns the next one."""
        need = self._need
        if self._failed is not None:
            raise FlowStateError("the machine stopped on an error; it takes no more results")
        if isinstance(need, Finished):
            raise FlowStateError("the machine has finished; it takes no more results")
        need.accept(result)
        self._need = self._resume(result)
        return self._need

    def _resume(self, result: object) -> Need[Any] | Finished[T]:
        """Run the steps to their next need; an error they raise stops the machine for good."""
        try:
            return self._steps.send(result)
        except StopIteration as stop:
            return Finished(stop.value)
        except BaseException as exc:
            self._failed = exc
            raise


__all__ = ["Finished", "Machine", "Need", "Phase", "Steps", "ask"]
