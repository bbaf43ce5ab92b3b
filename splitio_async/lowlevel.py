"""Semi-public helpers for the blocking shim and integrations, named after anyio's and trio's
``lowlevel``: the shim imports these instead of any ``_private`` name or sub-package.

The core of every call lives in ``splitio_async.core`` (see its docstring); this module only
re-exports the parts a facade is built from. Not covered by the compatibility promise of the
public API.
"""

from __future__ import annotations

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

