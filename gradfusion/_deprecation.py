"""Renamed result fields and keyword arguments: they keep working for one release, with a warning.

A name that users may depend on is not removed or given a new meaning silently: for one release
(until :data:`REMOVAL`) the old spelling still works and issues a ``FutureWarning`` (shown by
default, unlike ``DeprecationWarning``) that says what to use instead.
"""

import functools
import warnings

from scipy.optimize import OptimizeResult

__all__ = ["REMOVAL", "Result", "renamed_keywords", "warn"]

#: the release that removes the deprecated names
REMOVAL = "gradfusion 0.2"


def warn(message, stacklevel=3):
    """Issue ``message`` as a ``FutureWarning`` (``stacklevel`` 3: the caller's caller)."""
    warnings.warn(message, FutureWarning, stacklevel=stacklevel)


class Result(OptimizeResult):
    """A dict with attribute access whose deprecated attributes warn.

    ``_deprecated`` maps an attribute name to ``(key, default, message)``: reading the
    attribute issues ``message`` as a ``FutureWarning`` and returns ``self[key]`` (``default``
    when ``key`` is None or absent). A name that is also a key (a field whose meaning changed)
    warns on attribute access and returns the key's (new) value; item access (``result[key]``)
    never warns.
    """

    _deprecated = {}

    def __getattr__(self, name):
        entry = type(self)._deprecated.get(name)
        if entry is not None:
            key, default, message = entry
            warn(message)
            return self.get(key, default) if key is not None else default
        return super().__getattr__(name)


def renamed_keywords(what, old_order, **renamed):
    """Decorator: the function's old keyword ``old=`` still works as ``new=``, with a warning.

    ``renamed`` maps each old keyword to its new name; ``old_order`` is the function's former
    positional parameters, in order. When an old keyword is passed, the positional arguments
    are read in that former order (``f(a, old2=b)`` meant ``old1=a``), so that a call written
    for the old signature keeps its meaning. Passing both spellings of one argument is a
    ``TypeError``; ``what`` names the function in the messages.
    """
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            used = [old for old in renamed if old in kwargs]
            if not used:
                return function(*args, **kwargs)
            for old in used:
                if renamed[old] in kwargs:
                    raise TypeError(f"{what} got both {renamed[old]} and its deprecated name "
                                    f"{old}; pass {renamed[old]} only")
            warn(f"{what}'s arguments {', '.join(renamed)} are renamed "
                 f"{', '.join(renamed.values())} (the old names will be removed in {REMOVAL})")
            old_values = dict(zip(old_order, args))
            for old in used:
                if old in old_values:
                    raise TypeError(f"{what} got multiple values for argument {old}")
                old_values[old] = kwargs.pop(old)
            kwargs.update({renamed.get(k, k): value for k, value in old_values.items()})
            return function(*args[len(old_order):], **kwargs)
        return wrapper
    return decorate
