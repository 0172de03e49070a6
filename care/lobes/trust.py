"""Bounds on a model folder's ``hyperparams.yaml`` before anything reads it
as more than text: its size, its nesting, and how far YAML aliases expand
it. An alias names a node written elsewhere (``&a [x, x]`` ... ``*a``);
nine lines of ten aliases each name 10**9 nodes (a "billion laughs"), which
HyperPyYAML's reference pass walks one by one, so an untrusted folder could
hang the very check that would refuse it
(:func:`care.lobes.export.check_hparams`). An export is a few hundred nodes;
the bounds below are far above that.

Example
-------
>>> import yaml
>>> bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\\n" + "".join(
...     f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\\n" for i in range(1, 9))
>>> nesting_problem(bomb) is None
True
>>> expansion_problem(yaml.compose(bomb, Loader=yaml.SafeLoader))  # doctest: +ELLIPSIS
(5, 'YAML aliases expanding to more than 100000 nodes (an alias bomb)')

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import yaml

MAX_BYTES = 1 << 20  # an export's hyperparams.yaml is a few kB
MAX_DEPTH = 64  # nested sequences and mappings
MAX_NODES = 100_000  # nodes once every alias is expanded


def nesting_problem(text):
    """``(line, what)`` when ``text`` nests deeper than :data:`MAX_DEPTH`
    (read as a stream of YAML events, without building it), else None.
    Raises ``yaml.YAMLError`` for text that is not YAML."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1, f"nesting deeper than {MAX_DEPTH} levels"
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
    return None


def expansion_problem(root):
    """``(line, what)`` when the composed YAML ``root`` holds an alias to
    one of its own ancestors (an endless structure) or expands, aliases
    followed, to more than :data:`MAX_NODES` nodes; else None. Each node is
    counted once (its expanded size remembered), without recursion."""
    sizes, on_path, stack = {}, set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_NODES:
                return (node.start_mark.line + 1,
                        f"YAML aliases expanding to more than {MAX_NODES} nodes (an alias bomb)")
        elif id(node) in on_path:
            return node.start_mark.line + 1, "a YAML alias to a node that contains it"
        elif id(node) not in sizes:
            on_path.add(id(node))
            stack.append((node, True))
            stack += [(child, False) for child in children if id(child) not in sizes]
    return None


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
