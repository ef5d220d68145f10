"""Errors meant for people: one clear message, a non-zero exit status, no traceback."""


class MCUGenError(Exception):
    """Base class; the CLI prints the message and exits with `exit_code`."""

    exit_code = 1


class ModelError(MCUGenError):
    """The file is not a model mcugen can read (corrupt, truncated, dynamic shapes, ...)."""

    exit_code = 2


class UnsupportedError(MCUGenError):
    """The model uses ops or parameters mcugen does not support. Lists all of them at once."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} unsupported op(s) in the model:\n{lines}")


class Unsupported(Exception):
    """Raised by an op module's lower() with the reason one op cannot be compiled."""


class BuildError(MCUGenError):
    """The C compiler failed on generated code (a bug in mcugen, not in the model)."""

    exit_code = 3
