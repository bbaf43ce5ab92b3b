"""Every public name of both packages has a docstring: each name a public module exports (its
``__all__``, or its top-level classes and functions without one), and each public method and
property of those classes, wherever in our packages it is defined (inherited members too). The
public modules are the ones the API reference documents (``tests/docs/test_site.py``)."""

from __future__ import annotations

import enum
import importlib
import inspect
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from tests.docs.test_site import PUBLIC_MODULES, public_names

OURS = ("splitio_async", "splitio_sync_shim")


def _ours(obj: Any) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] in OURS


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods and properties ``cls`` has from our packages (not object's, tuple's,
    Enum's or a third-party base's)."""
    for klass in cls.__mro__:
        if not _ours(klass):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") or name in dict(_seen(cls, klass)):
                continue
            if isinstance(cls, enum.EnumMeta) and isinstance(member, cls):
                continue  # an enum's members are values, documented by the class
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if inspect.isfunction(member) or isinstance(member, property):
                yield name, member


def _seen(cls: type, klass: type) -> Iterator[tuple[str, Any]]:
    """Members a class earlier in ``cls``'s MRO than ``klass`` defines (they win)."""
    for earlier in cls.__mro__[: cls.__mro__.index(klass)]:
        yield from vars(earlier).items()


def missing_docstrings(modules: tuple[str, ...] = PUBLIC_MODULES) -> list[str]:
    missing = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(module, name)
            if name == "__version__" or not (inspect.isclass(obj) or callable(obj)):
                continue
            where = f"{module_name}.{name}"
            if not inspect.getdoc(obj) or (inspect.isclass(obj) and obj.__doc__ is None):
                missing.append(where)
            if inspect.isclass(obj) and _ours(obj):
                missing += [
                    f"{where}.{member_name}" for member_name, member in _members(obj)
                    if not (member.__doc__ or "").strip()
                ]
    return sorted(set(missing))


def test_every_public_name_has_a_docstring() -> None:
    missing = missing_docstrings()
    assert not missing, f"public names without a docstring: {missing}"


def test_the_check_finds_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public class without a docstring, and an undocumented method and property of a
    documented one (defined on a base class of ours), are each reported."""
    probe = types.ModuleType("splitio_async._probe")

    class Base:
        """Documented."""

        def inherited(self) -> None:
            pass

    class Documented(Base):
        """Documented."""

        @property
        def value(self) -> int:
            return 1

        def _private(self) -> None:
            pass

    class Bare:
        def method(self) -> None:
            """Documented."""

    for cls in (Base, Documented, Bare):
        cls.__module__ = probe.__name__
    probe.Documented, probe.Bare = Documented, Bare  # type: ignore[attr-defined]
    probe.__all__ = ("Documented", "Bare")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, probe.__name__, probe)
    assert missing_docstrings((probe.__name__,)) == [
        "splitio_async._probe.Bare",
        "splitio_async._probe.Documented.inherited",
        "splitio_async._probe.Documented.value",
    ]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_the_check_sees_each_public_module(module_name: str) -> None:
    """The check above walks something in every public module (it could not pass vacuously)."""
    assert public_names(module_name)
