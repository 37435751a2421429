"""Reading the policy YAML safely: YAML 1.2 booleans, duplicate keys reported, bounded size, depth and aliases."""

from __future__ import annotations

import re
from typing import Any

import yaml

from bot.config.problems import got

_BOOL_TAG = "tag:yaml.org,2002:bool"
# Bounds that no real policy comes near and that keep a hostile one cheap to refuse (README "Policy file").
MAX_POLICY_BYTES = 512 * 1024  # the file
MAX_POLICY_DEPTH = 32  # lists and mappings inside one another (a policy needs 4)
MAX_POLICY_VALUES = 50_000  # values, once every alias is expanded (anchors may share lists, not multiply them)
MAX_INT_DIGITS = 30  # digits of an integer


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false; `yes`, `no`, `on`, `off` stay text)
    that records duplicate keys instead of silently keeping the last one, refuses nesting deeper than
    MAX_POLICY_DEPTH while it reads (PyYAML's composer recurses once per level) and integers longer
    than MAX_INT_DIGITS (Python refuses to read past 4,300), and stops reading at the
    MAX_POLICY_VALUES-th value."""

    duplicates: list[str]
    depth: int = 0
    values: int = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, counting values and nesting depth; ComposerError past the bounds."""
        if not self.check_event(yaml.AliasEvent):
            self.values += 1
            if self.values > MAX_POLICY_VALUES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_POLICY_VALUES:,} values (a policy has a few hundred)",
                    self.peek_event().start_mark)
        if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            self.depth += 1
            try:
                if self.depth > MAX_POLICY_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested more than {MAX_POLICY_DEPTH} levels deep", self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer, or ConstructorError when it has more than MAX_INT_DIGITS digits."""
        digits = sum(c.isalnum() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number with more than {MAX_INT_DIGITS} digits", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping, with each duplicate key recorded in `duplicates`."""
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                mark = key_node.start_mark
                self.duplicates.append(f"{mark.line + 1}:{mark.column + 1}: duplicate key {got(key_node.value)}")
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PolicyLoader.add_constructor("tag:yaml.org,2002:int", _PolicyLoader.construct_yaml_int)


def _too_big(root: yaml.Node) -> str | None:
    """Why the node graph is too big once its aliases are expanded (or refers to itself), or None.

    An alias is the same node object as its anchor, so the graph is a DAG: each node's expanded size is
    counted once (memoised), without recursion, and the walk stops at the first node past the bound.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode) or key in size and not done:
            size.setdefault(key, 1)
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_POLICY_VALUES:
                mark = node.start_mark
                return (f"{mark.line + 1}:{mark.column + 1}: the aliases expand this to more than "
                        f"{MAX_POLICY_VALUES:,} values (an anchor may be reused, not multiplied)")
            continue
        if key in on_path:
            mark = node.start_mark
            return f"{mark.line + 1}:{mark.column + 1}: an alias refers to the value that contains it"
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return None


def load_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    """The YAML document in `text` and the problems found reading it (None when it cannot be read)."""
    if len(text) > MAX_POLICY_BYTES:
        return None, [f"{source}: larger than {MAX_POLICY_BYTES // 1024} KiB (a policy file is a few KiB)"]
    loader = _PolicyLoader(text)
    loader.duplicates = []
    try:
        node = loader.get_single_node()
        too_big = _too_big(node) if node is not None else None
        if too_big:
            return None, [f"{source}:{too_big}"]
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        return None, [f"{where}: {exc.problem or exc.context or 'not valid YAML'}"]
    except yaml.YAMLError as exc:
        return None, [f"{source}: not valid YAML: {str(exc)[:200]}"]
    finally:
        loader.dispose()
    return data, [f"{source}:{d}" for d in loader.duplicates]

