"""JSON decoding with a nesting limit, in slices that let the event loop breathe.

``json.loads`` is C code that holds the GIL from the first byte to the last: a 20 MiB
``splitChanges`` answer stalls every thread of the process for about half a second (measured on
the development VM), and a worker thread does not help. ``parse_steps`` walks the outer levels
of the document itself (objects down to depth 3, arrays down to depth 4: the sections of a
``splitChanges`` or segment answer, the list of flags, the list of segment keys) and hands each
value below to the C scanner, one at a time. It is a generator: it yields whenever
``SLICE_SECONDS`` have passed, so an async caller awaits a checkpoint there (``drive`` in
``runtime.slices``) and a sync caller simply exhausts it (``parse``). One slice is then
bounded by the largest single flag, rule-based segment or key rather than by the whole answer.

Nesting deeper than ``max_depth`` raises ``LimitExceeded`` naming ``jsonMaxDepth``: Python code
that walks a document recursively (copying, encoding it again for the cache file, ``repr``)
would otherwise fail far from where the data came in. ``NaN`` and ``Infinity`` are refused (they
are not JSON; the official SDK's servers never send them).

Pure: stdlib only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from .limits import LimitExceeded

SLICE_SECONDS = 0.005
_BATCH_CHARS = 65536  # scalars of an array decoded together by the C scanner (~1 ms)
_DESCEND_OBJECTS = 3  # deepest object walked here rather than by the C scanner
_DESCEND_ARRAYS = 4  # deepest array walked here (the list of flags, of segment keys)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INFINITY, -_INFINITY):
        raise ValueError(f"{text} is out of range")
    return value


_INFINITY = float("inf")
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]

Steps = Generator[None, None, Any]


class MalformedJSON(ValueError):
    """Not JSON: ``msg`` at ``lineno``, ``colno`` (as ``json.JSONDecodeError`` says it)."""

    def __init__(self, msg: str, lineno: int, colno: int) -> None:
        super().__init__(f"malformed JSON: {msg} at line {lineno}, column {colno}")
        self.msg, self.lineno, self.colno = msg, lineno, colno


def decode_text(data: bytes | bytearray | str) -> str:
    """Bytes to text as ``json.loads`` would (UTF-8, -16 or -32, with or without a BOM)."""
    if isinstance(data, str):
        return data
    encoding = json.detect_encoding(data)
    text = bytes(data).decode(encoding, "surrogatepass")
    return text.removeprefix("\ufeff")


def parse(data: bytes | bytearray | str, max_depth: int) -> Any:
    """Decode a whole document at once (worker threads, small inputs)."""
    steps = parse_steps(data, max_depth)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def parse_steps(
    data: bytes | bytearray | str, max_depth: int, budget: float = SLICE_SECONDS
) -> Steps:
    """The document decoded in slices (see the module docstring); raises ``ValueError`` for
    malformed JSON and ``LimitExceeded`` past ``max_depth``."""
    text = decode_text(data)
    try:
        return (yield from _parse(text, max_depth, budget))
    except RecursionError:  # the C scanner's own guard, far below a C stack overflow
        raise LimitExceeded("the JSON nesting", "jsonMaxDepth", max_depth, "levels") from None
    except json.JSONDecodeError as exc:
        raise MalformedJSON(exc.msg, exc.lineno, exc.colno) from None


class _Frame:
    __slots__ = ("container", "cooldown", "depth", "key")

    def __init__(self, container: dict[str, Any] | list[Any], depth: int) -> None:
        self.container = container
        self.depth = depth
        self.key: str | None = None
        self.cooldown = 0  # elements to decode one by one after a batch that did not fit


def _expected(what: str, text: str, index: int) -> json.JSONDecodeError:
    return json.JSONDecodeError(f"Expecting {what}", text, index)


def _parse(text: str, max_depth: int, budget: float) -> Steps:
    clock = time.perf_counter
    deadline = clock() + budget
    stack: list[_Frame] = []
    index = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    result: Any = None
    need_value = True  # else: after a value, expecting "," or the closing bracket
    while True:
        if clock() > deadline:
            yield
            deadline = clock() + budget
        if need_value:
            frame = stack[-1] if stack else None
            if frame is not None and isinstance(frame.container, dict) and frame.key is None:
                # an object wants a key (or is empty)
                if text.startswith("}", index) and not frame.container:
                    index += 1
                    value: Any = stack.pop().container
                    need_value = False
                    index = _attach(stack, value, text, index)
                    if not stack:
                        result = value
                    continue
                if not text.startswith('"', index):
                    raise _expected("property name enclosed in double quotes", text, index)
                key, index = scanstring(text, index + 1, True)
                index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
                if not text.startswith(":", index):
                    raise _expected("':' delimiter", text, index)
                index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
                frame.key = key
            depth = len(stack) + 1
            opening = text[index:index + 1]
            if (opening == "{" and depth <= _DESCEND_OBJECTS) or (
                opening == "[" and depth <= _DESCEND_ARRAYS
            ):
                if depth > max_depth:
                    raise LimitExceeded("the JSON nesting", "jsonMaxDepth", max_depth, "levels")
                stack.append(_Frame({} if opening == "{" else [], depth))
                index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
                if opening == "[" and text.startswith("]", index):
                    index += 1
                    value = stack.pop().container
                    need_value = False
                    index = _attach(stack, value, text, index)
                    if not stack:
                        result = value
                continue
            if (frame is not None and isinstance(frame.container, list)
                    and opening not in ("{", "[")):
                batch_end = _batch(frame, text, index, max_depth)
                if batch_end is not None:
                    index = batch_end
                    need_value = False
                    continue
            start = index
            try:
                value, index = _SCAN(text, index)
            except StopIteration as stop:
                raise _expected("value", text, stop.value) from None
            if opening in ("{", "[") and (
                text.count("[", start, index) + text.count("{", start, index) > max_depth - depth
            ):
                _check_depth(value, max_depth - depth + 1, max_depth)
            index = _attach(stack, value, text, index)
            if not stack:
                result = value
            need_value = False
            continue
        # after a value: "," -> next value, closing bracket -> container done, end of text
        if not stack:
            if index != len(text):
                raise json.JSONDecodeError("Extra data", text, index)
            return result
        frame = stack[-1]
        char = text[index:index + 1]
        if char == ",":
            index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
            need_value = True
            if isinstance(frame.container, dict):
                frame.key = None
                if not text.startswith('"', index):
                    raise _expected("property name enclosed in double quotes", text, index)
            continue
        if char == ("}" if isinstance(frame.container, dict) else "]"):
            value = stack.pop().container
            index = _attach(stack, value, text, index + 1)
            if not stack:
                result = value
            continue
        raise _expected("',' delimiter", text, index)


def _batch(frame: _Frame, text: str, index: int, max_depth: int) -> int | None:
    """Decode a run of an array's elements in one C call (a segment's keys, typically).

    The run is cut at the first comma past ``_BATCH_CHARS`` or, when the text has none (the
    array's last run), at the first closing bracket: wrapped in brackets it parses as a list,
    ending exactly at the cut, only if the comma separates two elements of this array (or the
    bracket closes it): a comma or bracket inside a string or inside a nested value leaves a
    string or a bracket open. Returns the index of the cut, or None to decode one element (and
    a few after it) alone.
    """
    if frame.cooldown:
        frame.cooldown -= 1
        return None
    cut = text.find(",", index + _BATCH_CHARS)
    if cut < 0:  # the last run: up to the bracket that closes the array, if it is that one
        cut = text.find("]", index)
        if cut < 0:
            return None
    run = f"[{text[index:cut]}]"
    try:
        values, end = _SCAN(run, 0)
    except (StopIteration, ValueError):
        values, end = None, -1
    if end != len(run) or not isinstance(values, list):
        frame.cooldown = 64
        return None
    allowed = max_depth - frame.depth  # the run's elements sit one level below the array
    if run.count("[") + run.count("{") - 1 > allowed:
        for value in values:
            if type(value) in (dict, list):
                _check_depth(value, allowed, max_depth)
    assert isinstance(frame.container, list)
    frame.container.extend(values)
    return cut


def _attach(stack: list[_Frame], value: Any, text: str, index: int) -> int:
    """Put a finished value into its parent; returns the index past the whitespace after it."""
    if stack:
        frame = stack[-1]
        if isinstance(frame.container, dict):
            assert frame.key is not None
            frame.container[frame.key] = value
        else:
            frame.container.append(value)
    return _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]


def _check_depth(value: Any, allowed: int, max_depth: int) -> None:
    """Walk ``value`` (iteratively: it may be deep) and refuse nesting past ``allowed``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                if depth + 1 > allowed:
                    raise LimitExceeded("the JSON nesting", "jsonMaxDepth", max_depth, "levels")
                stack.append((child, depth + 1))


def check_depth(value: Any, max_depth: int) -> None:
    """Refuse an already decoded value (YAML, a dict built elsewhere) nested past ``max_depth``."""
    if type(value) in (dict, list):
        _check_depth(value, max_depth, max_depth)
