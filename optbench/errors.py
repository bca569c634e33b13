"""The one error type users see for bad input: a single paragraph naming the bad value and the valid choices."""


class OptbenchError(ValueError):
    """Bad configuration or data, detected before training starts."""
