"""Regular expressions compiled at build time, for the frozen program's cache miss.

Importing botocore and urllib3 compiles about 120 regular expressions, which
took a cache miss 20 to 40 ms: CPython parses each pattern and generates its
code in Python on every run.  The build records, for the interpreter it
bundles, the arguments each compilation hands to ``_sre.compile``
(``packaging/regexes.py`` writes them into the module ``dce_regexes``), and
``install`` makes ``re`` use them, so that only that last, native step runs.

The table is used only by the interpreter that made it (``key``), and a
pattern not in it is compiled as usual.  ``tests/test_regexcache.py`` checks
that every recorded pattern comes out equal to ``re``'s own compilation.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from typing import Any

    # (pattern, flags) -> the other arguments of _sre.compile, code as a tuple.
    Table = dict[tuple[str | bytes, int], tuple[Any, ...]]

MODULE = "dce_regexes"


def key() -> str:
    """What a table depends on: this interpreter's version and its regex engine's."""
    engine, _ = _modules()
    return f"{sys.version} {sys.implementation.cache_tag} {engine.MAGIC} {engine.CODESIZE}"


def _modules() -> tuple[Any, Any]:
    """``_sre`` and ``re._compiler``: CPython's own, which typeshed does not describe."""
    import importlib

    return importlib.import_module("_sre"), importlib.import_module("re._compiler")


def install() -> int:
    """Make ``re`` use the build's table, if there is one for this interpreter; say how large.

    Installing again changes nothing: the table is consulted once per compilation.
    """
    global _installed  # noqa: PLW0603 - one hook per process, however many fetches
    if _installed:
        return _installed
    try:
        data = __import__(MODULE)
    except ImportError:
        return 0
    if key() != data.KEY:
        return 0
    table: Table = data.TABLE
    _hook(table)
    _installed = len(table)
    return _installed


_installed = 0


def _hook(table: Table) -> None:
    engine, compiler = _modules()
    original: Callable[[object, int], object] = compiler.compile

    def compile(p: object, flags: int = 0) -> object:
        found = table.get((p, flags)) if isinstance(p, (str, bytes)) else None
        if found is None:
            return original(p, flags)
        final_flags, code, groups, groupindex, indexgroup = found
        return engine.compile(p, final_flags, list(code), groups, dict(groupindex), indexgroup)

    compiler.compile = compile


def recording(table: Table) -> AbstractContextManager[None]:
    """While active, add every pattern ``re`` compiles to ``table`` (for the build and tests)."""
    from contextlib import contextmanager

    @contextmanager
    def active() -> Iterator[None]:
        import re

        re.purge()  # a pattern compiled earlier would come from re's cache, unseen
        engine, compiler = _modules()
        original: Callable[[object, int], object] = compiler.compile

        class Recorder:
            """Stands in for ``_sre`` inside ``re._compiler`` to see each call's arguments."""

            def __getattr__(self, name: str) -> object:
                return getattr(engine, name)

            @staticmethod
            def compile(*args: object) -> object:
                Recorder.last = args
                return engine.compile(*args)

            last: tuple[object, ...] = ()

        def compile(p: object, flags: int = 0) -> object:
            result = original(p, flags)
            if isinstance(p, (str, bytes)) and Recorder.last:
                table[(p, int(flags))] = _plain(Recorder.last)
            Recorder.last = ()
            return result

        compiler._sre = Recorder()
        compiler.compile = compile
        try:
            yield
        finally:
            compiler._sre = engine
            compiler.compile = original

    return active()


def _plain(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments after the pattern, as plain values: opcodes are int subclasses."""
    _pattern, flags, code, groups, groupindex, indexgroup = args
    return (
        int(flags),
        tuple(int(c) for c in code),
        int(groups),
        {str(k): int(v) for k, v in dict(groupindex).items()},
        tuple(indexgroup),
    )
