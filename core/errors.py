"""Errors a person can cause, each carrying a sentence they can act on."""


class UserError(Exception):
    """A problem with the user's input; its message is shown as it is, without a traceback."""


class ConfigError(UserError):
    """A training setting outside its sensible range."""


class PathEscapeError(UserError):
    """A path built from user input that would leave the workspace."""
