"""The one exception the recipes raise: it names the cause and the fix."""


class RecipeError(RuntimeError):
    """A build step failed; ``str()`` says what broke and what to do about it."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(f"{cause}\n  fix: {fix}")
        self.cause = cause
        self.fix = fix
