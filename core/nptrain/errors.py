"""Errors that reach the user as one line and exit status 2."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (config, file, command line). Printed as one line, exit 2."""


class RunStopped(UserError):
    """A run that stopped before its end for a reason outside its input (a disk that filled, a data loader
    worker that died): what was saved is intact and the message says how to continue. ``exit_code`` is 3
    (docs/training.md#faults)."""

    exit_code = 3


class RunInterrupted(RunStopped):
    """SIGINT or SIGTERM stopped the run at a step boundary after saving where it was; the exit status is
    the shell's for that signal, 128 + its number (130, 143)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class ConfigError(UserError):
    """A config problem located at ``file:line:col`` and a dotted field path."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 col: int | None = None, field: str | None = None) -> None:
        self.file, self.line, self.col, self.field, self.message = file, line, col, field, message
        where = ""
        if file:
            where = file + (f":{line}:{col}" if line is not None else "") + ": "
        super().__init__(f"{where}{field + ': ' if field else ''}{message}")


class ConfigErrors(ConfigError):
    """Several located config problems found in one pass (each one line); ``errors`` holds them in
    file order. The CLI prints one ``nptrain: error:`` line per entry."""

    def __init__(self, errors: "list[ConfigError]", more: int = 0) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, col=first.col, field=first.field)
        self.errors, self.more = list(errors), more
        self.args = ("\n".join(self.lines),)

    def __str__(self) -> str:
        return self.args[0]

    @property
    def lines(self) -> list[str]:
        tail = [f"... and {self.more} more problem(s) in the config: fix these and check again"] if self.more else []
        return [str(e) for e in self.errors] + tail


class ValueAt(ValueError):
    """A plugin's config value that is wrong at ``sub``, a path below the value it was given (a stage's block
    ``(4,)``, or its third field ``(4, 2)``): the config check locates it at that element's line."""

    def __init__(self, message: str, sub: tuple = ()) -> None:
        super().__init__(message)
        self.sub = tuple(sub)


class DataFieldError(UserError):
    """A problem of the ``data`` section's field at ``path`` (below ``data``) found while reading the data, e.g. a
    Hugging Face feature the dataset does not have; the run's data setup locates it at the config's line."""

    def __init__(self, path: tuple, message: str) -> None:
        super().__init__(f"data.{'.'.join(map(str, path))}: {message}")
        self.path, self.message = tuple(path), message


class ConversionError(UserError):
    """A checkpoint could not be mapped onto the target layout (unmapped or missing keys)."""


class PluginError(Exception):
    """A plugin is broken or two plugins clash; reported, never fatal for unrelated commands."""


class PluginFault(UserError):
    """A plugin's code (not the user's input, not the core) failed; the message names the distribution
    and the plugin's source line so the report goes to the right author."""


def describe_exception(exc: BaseException) -> str:
    """``Type: first line of the message``; ``sys.exit(n)`` reads as what it is, not a bare number."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: it called sys.exit({exc.code!r})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
