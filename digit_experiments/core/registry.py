"""Name → builder registries: how config names become Python objects.

Each concept (models, augmentations, callbacks, optimizers, data sources) owns
one :class:`Registry`. A config names an entry (``model.name: cnn_bn``) and
passes the remaining keys as keyword arguments; unknown names and unknown keys
are reported with the valid choices before any work starts.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Mapping

from digit_experiments.core.errors import ConfigError


class Registry:
    """A named collection of builder callables.

    Args:
        kind: What the entries are ("model", "callback", ...); used in messages.
        config_key: The config key users set to pick an entry, used in messages.
    """

    def __init__(self, kind: str, config_key: str) -> None:
        self.kind = kind
        self.config_key = config_key
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator that registers ``builder`` under ``name``."""

        def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._builders[name] = builder
            return builder

        return decorator

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def get(self, name: str) -> Callable[..., Any]:
        """Return the builder for ``name`` or raise a ConfigError listing valid names."""
        if name not in self._builders:
            raise ConfigError(
                f"Unknown {self.kind} {name!r} (config key `{self.config_key}`). "
                f"Valid {self.kind} names are: {', '.join(self.names())}. "
                f"Pick one of them on the command line, e.g. `{self.config_key}={self.names()[0]}`."
            )
        return self._builders[name]

    def check_arguments(self, name: str, arguments: Iterable[str]) -> None:
        """Raise a ConfigError if ``arguments`` has a key the builder does not name.

        A builder's ``**kwargs`` counts as taking nothing more: the Keras classes
        registered here (the optimizers, ReduceLROnPlateau) hand theirs to a base
        class that refuses them mid-run or ignores them, so a misspelt option
        must be caught here, before any work.
        """
        builder = self.get(name)
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        parameters = [p.name for p in inspect.signature(builder).parameters.values() if p.kind in named]
        unknown = sorted(set(arguments) - set(parameters))
        if unknown:
            accepted = [p for p in parameters if not p.startswith("_")]
            raise ConfigError(
                f"{self.kind} {name!r} does not take the option(s) {', '.join(unknown)} "
                f"(picked by `{self.config_key}`). It accepts: {', '.join(accepted)}. "
                "Fix the spelling or remove the key from your config/override."
            )

    def build(self, name: str, /, **arguments: Any) -> Any:
        """Check the arguments, then call the builder registered as ``name``."""
        self.check_arguments(name, arguments)
        return self.get(name)(**arguments)


def plain(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Convert an OmegaConf node (or None) into a plain, resolved dict."""
    if mapping is None:
        return {}
    from omegaconf import DictConfig, OmegaConf

    if isinstance(mapping, DictConfig):
        return OmegaConf.to_container(mapping, resolve=True)  # type: ignore[return-value]
    return dict(mapping)
