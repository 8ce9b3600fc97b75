"""Parameters read back from constructor arguments: what every detector and scorer shares.

A detector's constructor stores each argument unchanged as a public attribute of
the same name (STYLE), so the arguments can be recovered from the instance; that
gives cloning, a faithful ``repr`` and the parameter half of ``state_dict``.
"""

from __future__ import annotations

import inspect
from typing import Any, Self

__all__ = ["Parametrised"]


class Parametrised:
    """Mixin: ``get_params``, ``clone``, ``__repr__`` and the default running state."""

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, read back from the public attributes."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def clone(self) -> Self:
        """A fresh instance with the same parameters and no history."""
        return type(self)(**self.get_params())

    def _running_state(self) -> dict[str, Any]:
        """Running state beyond the parameters; by default every non-parameter attribute."""
        params = self.get_params()
        return {key: value for key, value in vars(self).items() if key not in params}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
