"""Exceptions and warnings raised by upsell.

Every exception derives from :class:`UpsellError` *and* from the builtin that
matches its meaning, so ``except ValueError`` keeps working for callers that
do not know upsell.

Examples
--------
>>> from upsell.exceptions import UpsellDataError, UpsellError
>>> issubclass(UpsellDataError, ValueError) and issubclass(UpsellDataError, UpsellError)
True
"""

from __future__ import annotations

__all__ = [
    "ConvergenceError",
    "MissingExtraError",
    "ModelFileError",
    "NotFittedError",
    "UnknownIdError",
    "UpsellDataError",
    "UpsellDeprecationWarning",
    "UpsellError",
    "UpsellMemoryError",
    "UpsellTypeError",
    "UpsellValueError",
    "UpsellWarning",
]


class UpsellError(Exception):
    """Base class of every error upsell raises.

    Examples
    --------
    >>> try:
    ...     raise UpsellError("something went wrong")
    ... except UpsellError as exc:
    ...     print(exc)
    something went wrong
    """


class UpsellDataError(UpsellError, ValueError):
    """Input data or an argument is malformed; the message names the row, column or argument.

    Examples
    --------
    >>> isinstance(UpsellDataError("row 3: quantity 'x' is not a number"), ValueError)
    True
    """


#: The name the shared validation helpers use for a bad value (the same class as UpsellDataError).
UpsellValueError = UpsellDataError


class UpsellTypeError(UpsellDataError, TypeError):
    """An argument is of the wrong type; the message names it, what is allowed and what came.

    It is also an :class:`UpsellDataError` (a ``ValueError``), as these errors were before.

    Examples
    --------
    >>> err = UpsellTypeError("`tx` must be Transactions; got list")
    >>> isinstance(err, TypeError), isinstance(err, ValueError)
    (True, True)
    """


class UnknownIdError(UpsellDataError, KeyError):
    """An external id (customer, item, order) is not in the index.

    Examples
    --------
    >>> err = UnknownIdError("item 'X9' is not in the item index")
    >>> isinstance(err, KeyError), str(err)
    (True, "item 'X9' is not in the item index")
    """

    def __str__(self) -> str:  # KeyError would quote the message again
        return str(self.args[0]) if self.args else ""


class NotFittedError(UpsellError, AttributeError):
    """A model was used before ``fit``.

    Examples
    --------
    >>> isinstance(NotFittedError("ALS is not fitted yet; call fit first"), AttributeError)
    True
    """


class ConvergenceError(UpsellError, RuntimeError):
    """An iterative fit did not converge; the message gives advice.

    Examples
    --------
    >>> isinstance(ConvergenceError("BG/NBD fit did not converge"), RuntimeError)
    True
    """


class ModelFileError(UpsellError, ValueError, OSError):
    """A saved model file is missing, truncated, corrupted, hostile or of an unknown format version.

    A model folder is untrusted input: everything read from it is checked, and
    whatever does not pass raises this error. ``file`` names the file,
    ``member`` the array or JSON entry inside it (None when the file as a whole
    is at fault) and ``problem`` what is wrong; the message says all three.
    It is a ``ValueError`` (bad content) and, for callers written against
    earlier versions, still an ``OSError``.

    Examples
    --------
    >>> err = ModelFileError("model file 'm.npz', member 'scores': holds NaN",
    ...                      file="m.npz", member="scores", problem="holds NaN")
    >>> isinstance(err, ValueError), isinstance(err, OSError), err.member
    (True, True, 'scores')
    """

    def __init__(self, message: str = "", *, file: str | None = None,
                 member: str | None = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.member = member
        self.problem = problem if problem is not None else message

    def __str__(self) -> str:  # OSError would format (errno, strerror) pairs
        return str(self.args[0]) if self.args else ""


class UpsellMemoryError(UpsellError, MemoryError):
    """A computation would need more memory than allowed; the message names the parameter to change.

    Examples
    --------
    >>> isinstance(UpsellMemoryError("needs 40 GB; raise min_support"), MemoryError)
    True
    """


class MissingExtraError(UpsellError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` command.

    Examples
    --------
    >>> isinstance(MissingExtraError('pip install "upsell[pandas]"'), ImportError)
    True
    """


class UpsellWarning(UserWarning):
    """Warnings from upsell (always issued with ``stacklevel=2``).

    Examples
    --------
    >>> issubclass(UpsellWarning, UserWarning)
    True
    """


class UpsellDeprecationWarning(UpsellWarning, DeprecationWarning):
    """A name or keyword is deprecated; the message names its replacement.

    Examples
    --------
    >>> issubclass(UpsellDeprecationWarning, DeprecationWarning)
    True
    """
