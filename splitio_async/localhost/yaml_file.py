"""Parser of the YAML localhost format: a list of ``- <flag>: {treatment, keys, config}`` entries.

Unlike the legacy format, a bad YAML file is refused as a whole (the official SDK fails to build the
factory too): half of a targeting file is worse than a clear error at start-up. Checks that the
official SDK lacks are added where it would otherwise load nonsense silently, e.g. ``treatment: on``
unquoted, which YAML reads as the boolean ``True``.

Aliases are counted before anything is built: a YAML document can name a node once and repeat
it by alias, so a few kilobytes can stand for billions of entries once every flag's keys are
listed ("billion laughs"). The composed node graph is measured with aliases expanded, and past
``max_nodes`` (``yamlMaxNodes``) the file is refused; a cycle of aliases is refused too, and so
is nesting past ``max_depth`` (``jsonMaxDepth``).
"""

from __future__ import annotations

from typing import Any

import yaml

from splitio_async import bounded_json
from splitio_async.errors import LocalhostFileError
from splitio_async.limits import LimitExceeded, Limits
from splitio_async.localhost._common import (
    all_keys_condition,
    synthesized_flag,
    whitelist_condition,
)

_BOOLEAN_HINT = (
    "; YAML reads unquoted on/off/yes/no/true/false as booleans, write the value in quotes"
)


_DEFAULTS = Limits()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _check_expansion(root: yaml.Node, max_nodes: int, max_depth: int) -> None:
    """Refuse a node graph whose aliases expand past ``max_nodes`` nodes, that loops, or that
    nests past ``max_depth``. Iterative, and each distinct node is visited once."""
    sizes: dict[int, int] = {}
    started: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            sizes[key] = total = 1 + sum(sizes[id(child)] for child in _children(node))
            started.discard(key)
            if total > max_nodes:
                raise LimitExceeded("the document, aliases expanded,", "yamlMaxNodes",
                                    max_nodes, "nodes")
            continue
        if key in sizes:
            continue
        if key in started:
            raise ValueError("an alias refers to a node that contains it (infinite expansion)")
        if depth > max_depth:
            raise LimitExceeded("the nesting", "jsonMaxDepth", max_depth, "levels")
        started.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node)
                     if id(child) not in sizes)


def load_bounded(text: str, max_nodes: int, max_depth: int) -> Any:
    """``yaml.safe_load`` with the checks above made on the composed nodes first."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, max_nodes, max_depth)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _load(text: str, source: str, max_nodes: int, max_depth: int) -> Any:
    try:
        document = load_bounded(text, max_nodes, max_depth)
        bounded_json.check_depth(document, max_depth)
        return document
    except (LimitExceeded, OverflowError) as exc:
        raise LocalhostFileError(source, f"invalid YAML: {exc}") from None
    except RecursionError:  # PyYAML composes recursively
        raise LocalhostFileError(source, "invalid YAML: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise LocalhostFileError(source, f"invalid YAML{where}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise LocalhostFileError(source, f"invalid YAML: {exc}") from exc
    except ValueError as exc:  # an alias loop, an integer of 5,000 digits...
        raise LocalhostFileError(source, f"invalid YAML: {exc}") from None


def _text(value: Any, what: str, source: str) -> str:
    """Read a scalar the user meant as text.

    Numbers are accepted and converted with ``str()`` because YAML types ``123`` as an int while the
    user meant the key or treatment ``"123"`` (the SDK converts numeric keys the same way).
    """
    if isinstance(value, str):
        if not value.strip():
            raise LocalhostFileError(source, f"{what} is empty")
        return value
    if isinstance(value, bool):
        raise LocalhostFileError(source, f"{what} is the boolean {value}{_BOOLEAN_HINT}")
    if isinstance(value, int | float):
        return str(value)
    raise LocalhostFileError(source, f"{what} must be a string, not {type(value).__name__}")


def _entry(item: Any, index: int, source: str) -> tuple[str, dict[str, Any]]:
    where = f"entry #{index}"
    if not isinstance(item, dict) or len(item) != 1:
        raise LocalhostFileError(
            source, f"{where} must be a map with exactly one key, the flag name: '- my_flag: ...'"
        )
    [(raw_name, data)] = item.items()
    name = _text(raw_name, f"the flag name of {where}", source)
    where = f"{where} ({name})"
    if not isinstance(data, dict):
        raise LocalhostFileError(
            source, f"{where} must map the flag name to a map with at least a 'treatment'"
        )
    if "treatment" not in data:
        raise LocalhostFileError(source, f"{where} has no 'treatment'")
    return name, data


def _keys(raw: Any, where: str, source: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [_text(key, f"a key in 'keys' of {where}", source) for key in items]


def parse_yaml(
    text: str, source: str, max_nodes: int = _DEFAULTS.yaml_max_nodes,
    max_depth: int = _DEFAULTS.json_max_depth,
) -> list[dict[str, Any]]:
    """Turn the text of a YAML split file into Split API flag dicts, one per flag name.

    Entries of one flag are grouped; keyed entries become whitelist conditions placed before the
    key-less ones, so a specific key wins over "everybody" whatever the file order, and the first
    key-less entry serves everybody else. Flags come out sorted by name, as in the official SDK.
    Raises ``LocalhostFileError`` naming ``source`` and the faulty entry.
    """
    document = _load(text, source, max_nodes, max_depth)
    if document is None:
        return []
    if not isinstance(document, list):
        raise LocalhostFileError(
            source,
            f"the top level must be a list of '- flag_name: {{...}}' entries, "
            f"not a {type(document).__name__}",
        )
    keyed: dict[str, list[dict[str, Any]]] = {}
    keyless: dict[str, list[dict[str, Any]]] = {}
    configs: dict[str, dict[str, str]] = {}
    for index, item in enumerate(document, start=1):
        name, data = _entry(item, index, source)
        where = f"entry #{index} ({name})"
        treatment = _text(data["treatment"], f"the treatment of {where}", source)
        keyed.setdefault(name, [])
        keyless.setdefault(name, [])
        flag_configs = configs.setdefault(name, {})
        if "keys" in data:
            keys = _keys(data["keys"], where, source)
            keyed[name].append(whitelist_condition(keys, treatment))
        else:
            keyless[name].append(all_keys_condition(treatment))
        config = data.get("config")
        if config is not None:
            if not isinstance(config, str):
                raise LocalhostFileError(
                    source,
                    f"the config of {where} must be a string (e.g. JSON text in quotes), "
                    f"not a {type(config).__name__}",
                )
            flag_configs[treatment] = config
    return [
        synthesized_flag(name, keyed[name] + keyless[name], configs[name]) for name in sorted(keyed)
    ]
