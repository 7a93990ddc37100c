"""Semantic versions of definitions and the version ranges that select them.

Versions are SemVer 2.0 (the ``semver`` package parses and orders them; build metadata
does not affect order). ``packaging`` was not used: its PEP 440 rules order pre-releases
differently and would accept versions that are not SemVer.

Ranges follow npm, the best-known SemVer range syntax:

* ``^1.2.3`` is ``>=1.2.3 <2.0.0``; below 1.0 the first non-zero part is fixed
  (``^0.2.3`` is ``>=0.2.3 <0.3.0``, ``^0.0.3`` is ``>=0.0.3 <0.0.4``);
* ``~1.2.3`` is ``>=1.2.3 <1.3.0``, ``~1`` is ``>=1.0.0 <2.0.0``;
* ``1`` and ``1.2`` (or ``1.x``, ``1.2.*``) are the ``1.x.x`` and ``1.2.x`` ranges;
  ``1.2.3`` (or ``=1.2.3``) is exactly that version; ``*``, ``x`` and the empty range are
  any version;
* comparators ``>=``, ``>``, ``<``, ``<=``, ``=``, ``!=`` combine with commas or spaces
  (all must hold: ``>=1.0,<2``), and ``||`` separates alternatives.

A pre-release (``2.0.0-rc.1``) only matches a range that names a pre-release of the same
``major.minor.patch``, so ``^1`` never picks up a release candidate by accident.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import semver

_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_PART = r"(?:0|[1-9]\d*|[xX*])"
_PARTIAL = re.compile(rf"^(?P<nums>{_PART}(?:\.{_PART}){{0,2}})(?P<rest>[-+].+)?$")
_TOKEN = re.compile(r"(\^|~|>=|<=|>|<|==|=|!=)?\s*([^\s,^~<>=!]+)")


def parse_version(text: str) -> semver.Version:
    """A SemVer 2.0 version; ``ValueError`` if ``text`` is not one."""
    if not isinstance(text, str):
        raise ValueError(f"version {text!r} must be a string such as '1.2.0'")
    try:
        return semver.Version.parse(text.strip())
    except (ValueError, TypeError):
        raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)") from None


def version_greater(a: str, b: str) -> bool:
    """Whether version ``a`` comes after ``b`` in SemVer precedence."""
    return parse_version(a).compare(parse_version(b)) > 0


def version_key(text: str) -> semver.Version:
    """Sort key: ``sorted(versions, key=version_key)`` orders by precedence."""
    return parse_version(text)


@dataclass(frozen=True)
class Comparator:
    op: str
    version: semver.Version

    def holds(self, version: semver.Version) -> bool:
        return _OPERATORS[self.op](version.compare(self.version), 0)


@dataclass(frozen=True)
class VersionRange:
    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    def contains(self, version: str | semver.Version) -> bool:
        parsed = parse_version(version) if isinstance(version, str) else version
        return any(_clause_holds(clause, parsed) for clause in self.alternatives)


def _clause_holds(clause: tuple[Comparator, ...], version: semver.Version) -> bool:
    if version.prerelease and not any(
        c.version.prerelease and c.version.finalize_version() == version.finalize_version()
        for c in clause
    ):
        return False
    return all(comparator.holds(version) for comparator in clause)


def parse_version_range(text: str) -> VersionRange:
    """Parse a range (see the module docstring); ``ValueError`` naming the bad part."""
    if not isinstance(text, str):
        raise ValueError(f"version range {text!r} must be a string")
    alternatives = tuple(_parse_clause(part.strip(), text) for part in text.split("||"))
    return VersionRange(text, alternatives)


def _parse_clause(clause: str, whole: str) -> tuple[Comparator, ...]:
    if clause in ("", "*", "x", "X", "latest"):
        return ()
    tokens = [(op or "", version) for op, version in _TOKEN.findall(clause)]
    rebuilt = "".join(op + version for op, version in tokens)
    if not tokens or rebuilt != re.sub(r"[\s,]", "", clause):
        raise ValueError(f"invalid version range {whole!r}")
    comparators: list[Comparator] = []
    for op, version in tokens:
        comparators.extend(_expand(op, version, whole))
    return tuple(comparators)


def _expand(op: str, text: str, whole: str) -> list[Comparator]:
    numbers, full = _partial(text, whole)
    if full is not None:
        return _full_comparators(op, full)
    low = _version(numbers)
    high = _bump(numbers)
    if op in ("", "=", "=="):
        return _between(low, high)
    if op == "^":
        return _between(low, _caret_high(numbers))
    if op == "~":
        return _between(low, high)
    return _partial_comparator(op, low, high, whole)


def _full_comparators(op: str, version: semver.Version) -> list[Comparator]:
    if op == "^":
        return _between(version, _caret_high([version.major, version.minor, version.patch]))
    if op == "~":
        return _between(version, semver.Version(version.major, version.minor + 1, 0))
    return [Comparator("==" if op in ("", "=") else op, version)]


def _partial_comparator(
    op: str, low: semver.Version, high: semver.Version | None, whole: str
) -> list[Comparator]:
    # ">1" means above every 1.x, "<=1.2" means up to the last 1.2.x: use the bump.
    if op == "!=":
        raise ValueError(f"invalid version range {whole!r}: != needs a full version")
    if op == ">=":
        return [Comparator(">=", low)]
    if op == "<":
        return [Comparator("<", low)]
    if high is None:  # "<=*" allows everything, ">*" nothing
        return [] if op == "<=" else [Comparator("<", low)]
    if op == ">":
        return [Comparator(">=", high)]
    return [Comparator("<", high)]  # "<="


def _partial(text: str, whole: str) -> tuple[list[int], semver.Version | None]:
    match = _PARTIAL.match(text)
    if match is None:
        raise ValueError(f"invalid version range {whole!r}: bad version {text!r}")
    numbers: list[int] = []
    for part in match["nums"].split("."):
        if part in ("x", "X", "*"):
            break
        numbers.append(int(part))
    if len(numbers) == 3:
        return numbers, parse_version(text)
    if match["rest"]:
        raise ValueError(f"invalid version range {whole!r}: {text!r} is incomplete")
    return numbers, None


def _version(numbers: list[int]) -> semver.Version:
    padded = [*numbers, 0, 0, 0][:3]
    return semver.Version(*padded)


def _bump(numbers: list[int]) -> semver.Version | None:
    if not numbers:
        return None
    if len(numbers) == 1:
        return semver.Version(numbers[0] + 1, 0, 0)
    return semver.Version(numbers[0], numbers[1] + 1, 0)


def _caret_high(numbers: list[int]) -> semver.Version | None:
    padded = [*numbers, 0, 0, 0][:3]
    if not numbers:
        return None
    if padded[0] > 0 or len(numbers) == 1:
        return semver.Version(padded[0] + 1, 0, 0)
    if padded[1] > 0 or len(numbers) == 2:
        return semver.Version(0, padded[1] + 1, 0)
    return semver.Version(0, 0, padded[2] + 1)


def _between(low: semver.Version, high: semver.Version | None) -> list[Comparator]:
    bounds = [Comparator(">=", low)]
    if high is not None:
        bounds.append(Comparator("<", high))
    return bounds


def match_version_range(range_text: str, versions: Iterable[str]) -> str | None:
    """The highest of ``versions`` inside the range, or None; invalid versions are skipped.

    ``range_text`` may be a bare range (``^1``) or a workflow reference (``name@^1``).
    """
    _, range_part = split_workflow_ref(range_text) if "@" in range_text else ("", range_text)
    wanted = parse_version_range(range_part)
    best: tuple[semver.Version, str] | None = None
    for text in versions:
        try:
            version = parse_version(text)
        except ValueError:
            continue
        if wanted.contains(version) and (best is None or version.compare(best[0]) > 0):
            best = (version, text)
    return best[1] if best else None


def split_workflow_ref(text: str) -> tuple[str, str]:
    """``"deidentify@^1"`` -> ``("deidentify", "^1")``; no ``@`` means any version."""
    name, _, range_text = text.partition("@")
    return name.strip(), range_text.strip()
