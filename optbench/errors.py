"""The one error type users see for bad input: a single paragraph naming the bad value and the valid choices."""


class OptbenchError(ValueError):
    """Bad configuration or data, detected before training starts."""


def exit_on_bad_setting(message: str, program: str = "optbench") -> None:
    """For code Hydra calls itself (a sweeper's constructor), where an exception would reach the user as Hydra's
    "Error in call to target" block: print the one paragraph and exit 2, as the runner does for bad input."""
    import sys

    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
