"""The registry: only declared layers are served; nothing is discovered by scanning the database."""

from __future__ import annotations

from layers.model import Layer

_LAYERS: dict[str, Layer] = {}


def register(layer: Layer, *, replace: bool = False) -> Layer:
    if layer.id in _LAYERS and not replace:
        raise ValueError(f"layer {layer.id!r} is declared twice")
    _LAYERS[layer.id] = layer
    return layer


def unregister(layer_id: str) -> None:
    _LAYERS.pop(layer_id, None)


def get(layer_id: str) -> Layer | None:
    _load()
    return _LAYERS.get(layer_id)


def all_layers() -> list[Layer]:
    _load()
    return sorted(_LAYERS.values(), key=lambda layer: (layer.order, layer.id))


def _load() -> None:
    # The declarations register themselves on import; importing here keeps import order irrelevant.
    import layers.catalog  # noqa: F401
