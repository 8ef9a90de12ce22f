"""The registry: only the layers declared in layers/catalog.py are served; nothing is discovered by scanning
the database and nothing registers itself as a side effect of an import."""

from __future__ import annotations

from layers.catalog import LAYERS
from layers.model import Layer


def _index(layers: tuple[Layer, ...]) -> dict[str, Layer]:
    out: dict[str, Layer] = {}
    for layer in layers:
        if layer.id in out:
            raise ValueError(f"layer {layer.id!r} is declared twice in layers/catalog.py")
        out[layer.id] = layer
    return out


_LAYERS = _index(LAYERS)


def register(layer: Layer, *, replace: bool = False) -> Layer:
    """Serve one more layer in this process (tests add a temporary one); the catalogue is the normal way."""
    if layer.id in _LAYERS and not replace:
        raise ValueError(f"layer {layer.id!r} is declared twice")
    _LAYERS[layer.id] = layer
    return layer


def unregister(layer_id: str) -> None:
    _LAYERS.pop(layer_id, None)


def get(layer_id: str) -> Layer | None:
    return _LAYERS.get(layer_id)


def all_layers() -> list[Layer]:
    return sorted(_LAYERS.values(), key=lambda layer: (layer.order, layer.id))
