"""The rules: built-in codemods and those other packages register.

A codemod is a module with a ``RULE`` attribute. Built-in ones live in the
``gofix_conc.codemods`` package; others are found through the entry-point group
``gofix_conc.codemods`` (each entry point names a module or a Rule).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
import types
from collections.abc import Iterable
from importlib.metadata import entry_points

from gofix_conc.model import Rule

ENTRY_POINT_GROUP = "gofix_conc.codemods"


class UnknownRuleError(Exception):
    pass


def _rule_of(obj: object) -> Rule:
    rule = obj.RULE if isinstance(obj, types.ModuleType) else obj  # type: ignore[attr-defined]
    if not isinstance(rule, Rule):
        raise TypeError(f"{obj!r} does not provide a gofix_conc Rule")
    return rule


@functools.cache
def all_rules() -> dict[str, Rule]:
    import gofix_conc.codemods as package

    rules: dict[str, Rule] = {}
    found = [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    found += [ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for obj in found:
        if isinstance(obj, types.ModuleType) and not hasattr(obj, "RULE"):
            continue
        rule = _rule_of(obj)
        if rule.id in rules and rules[rule.id] is not rule:
            raise ValueError(f"two rules share the id {rule.id!r}")
        rules[rule.id] = rule
    return dict(sorted(rules.items()))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_rule_message(rule_id: str) -> str:
    return f"unknown rule {rule_id!r}" + (did_you_mean(rule_id, all_rules()) or "; see 'gofix-conc rules'")


def get(rule_id: str) -> Rule:
    try:
        return all_rules()[rule_id]
    except KeyError:
        raise UnknownRuleError(unknown_rule_message(rule_id)) from None


def selected(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Rule]:
    """Rules on by default (or those in ``select``, ``ALL`` for every one) minus ``ignore``."""
    select, ignore = list(select), set(ignore)
    for rule_id in [*select, *ignore]:
        if rule_id != "ALL":
            get(rule_id)
    if not select:
        chosen = [r for r in all_rules().values() if r.default_enabled]
    elif "ALL" in select:
        chosen = list(all_rules().values())
    else:
        chosen = [get(r) for r in dict.fromkeys(select)]
    return [r for r in chosen if r.id not in ignore]
