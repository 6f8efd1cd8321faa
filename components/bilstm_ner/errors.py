"""The component's own exception types, for what callers need to tell apart.

Both loading errors are ValueErrors, as spaCy's own loading errors are, so
code that catches ValueError keeps working; code that needs to know *why* a
pipeline did not load (a damaged file, or weights from another config)
catches the subclass instead of reading messages.
"""


class ComponentLoadError(ValueError):
    """Saved component data that cannot be loaded into this component."""


class CorruptWeightsError(ComponentLoadError):
    """The saved weights cannot be read at all: a truncated or damaged file."""


class IncompatibleWeightsError(ComponentLoadError):
    """The saved weights are intact but do not fit the model built from the
    config: a model setting differs from the one they were trained with."""


class TrainingDivergedError(ValueError):
    """The loss stopped being finite: the settings (e.g. a learning rate too
    high) make training diverge. A hyperparameter sweep records such a trial
    as a result rather than stopping on it."""
