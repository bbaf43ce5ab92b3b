"""Semi-public helpers for the blocking shim and integrations, named after anyio's and trio's
``lowlevel``: the shim imports these instead of any ``_private`` name or sub-package.

The core of every call lives in ``splitio_async.core`` (see its docstring); this module only
re-exports the parts a facade is built from. Not covered by the compatibility promise of the
public API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ._optional import require as require
from .core.evaluation import EvaluationCore as EvaluationCore
from .core.evaluation import Treatments as Treatments
from .core.evaluation import TreatmentsWithConfig as TreatmentsWithConfig
from .core.evaluation import treatments_of as treatments_of
from .core.evaluation import with_configs as with_configs
from .core.manager import ManagerCore as ManagerCore
from .core.steps import Driver as Driver
from .core.steps import Steps as Steps
from .errors import at_boundary as at_boundary
from .lifecycle import DESTROYED as DESTROYED
from .lifecycle import NOT_INITIALIZED as NOT_INITIALIZED
from .lifecycle import READY as READY
from .lifecycle import WAITING_FORK as WAITING_FORK
from .lifecycle import FactoryState

if TYPE_CHECKING:
    from .actors.push import PushSupervisor
    from .factory import SplitFactory
    from .sdk_events import SdkEventsHub


class FactoryInternals:
    """The side of a ``SplitFactory`` its host (the blocking shim) and the integrations
    (OpenFeature, ``prefork``, the command line, tests) are built from: its cores, its driver,
    its state, its events hub, its task and its fork transitions. Not the user's API, so not
    attributes of the factory; ``internals(factory)`` gives this view of them (the one place
    outside ``factory.py`` that reads a factory's private members). Cheap: a view, no state.
    """

    __slots__ = ("_factory",)

    def __init__(self, factory: SplitFactory) -> None:
        self._factory = factory

    @property
    def core(self) -> EvaluationCore:
        """The evaluation core of the factory's mode, which every client calls."""
        return self._factory._mode.core

    @property
    def manager_core(self) -> ManagerCore:
        """The manager core of the factory's mode."""
        return self._factory._mode.manager_core

    @property
    def driver(self) -> Driver:
        """Settles the cores' answers (runs a remote store's reads) for both APIs."""
        return self._factory._mode.driver

    @property
    def state(self) -> FactoryState:
        """The status and the current snapshot every client reads."""
        return self._factory._state

    @property
    def events_hub(self) -> SdkEventsHub:
        """Where ``client.on`` subscribes (call it in the factory's event loop)."""
        return self._factory._hub

    @property
    def push(self) -> PushSupervisor | None:
        """Streaming's supervisor in standalone mode (observability), else None."""
        return self._factory._mode.push

    @property
    def run(self) -> Callable[..., Awaitable[None]]:
        """The factory's task: ``await tg.start(run)``; every actor runs until ``destroy()``,
        and a start-up error is raised before it reports started."""
        return self._factory._run

    def settled(self) -> bool:
        """Without waiting: True once ready (also after a later ``destroy()``), False while
        still loading; raises ``TimeoutException`` if destroyed before it was ever ready."""
        return self._factory._settled_now()

    # forks: see ``prefork`` and ``lifecycle``

    @property
    def waiting_for_fork(self) -> bool:
        """Paused in a forked child, or kept for forked workers to resume from."""
        return self._factory._waiting_for_fork

    def after_fork_in_child(self) -> None:
        """In the child of a fork while the factory ran: tell its host, or pause it."""
        self._factory._after_fork_in_child()

    def on_fork(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (held weakly: a bound method) instead of pausing the factory in
        the child of a fork."""
        self._factory._on_fork(listener)

    def pause_for_fork(self) -> bool:
        """Pause the factory in a forked child; False if it was not serving."""
        return self._factory._pause_for_fork()

    def keep_for_fork(self) -> bool:
        """Keep a factory stopped after loading its data, for forked workers to resume from."""
        return self._factory._keep_for_fork()

    def destroy_in_child(self) -> None:
        """End, in a forked child, a factory that never resumed there."""
        self._factory._destroy_in_child()


def internals(factory: SplitFactory) -> FactoryInternals:
    """The internals of ``factory`` (a ``SplitFactory``; see ``FactoryInternals``)."""
    return FactoryInternals(factory)

