"""``GET /layers``: what the web map needs to draw each layer the caller may see (titles, style, legend, URLs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.deps import base_url, tile_template
from api.security import optional_principal
from data.permissions import Caller
from layers import registry
from layers.access import may_see
from layers.model import Layer

router = APIRouter(tags=["Map layers"])


def legend(layer: Layer) -> list[dict[str, Any]]:
    """Legend entries labelled from the vocabulary (data/vocab.py), never re-listed here."""
    style = layer.style
    if style.by is None:
        return [{"value": None, "color": style.color, "label": {"vi": layer.title_vi, "en": layer.title_en}}]
    prop = layer.prop(style.by)
    if prop is not None and prop.terms:
        return [{"value": t.code, "color": style.colors.get(t.code, style.color), "label": {"vi": t.vi, "en": t.en}}
                for t in prop.terms]
    if prop is not None and prop.type == "boolean":
        title = {"vi": prop.title_vi, "en": prop.title_en}
        return [{"value": value, "color": style.colors.get(value, style.color),
                 "label": {"vi": f"{title['vi']}: {'có' if value == 'true' else 'không'}",
                           "en": f"{title['en']}: {'yes' if value == 'true' else 'no'}"}}
                for value in ("true", "false")]
    return [{"value": code, "color": color, "label": {"vi": code, "en": code}} for code, color in style.colors.items()]


def describe(request: Request, layer: Layer) -> dict[str, Any]:
    base = base_url(request)
    s = layer.style
    return {
        "id": layer.id,
        "title": {"vi": layer.title_vi, "en": layer.title_en},
        "description": layer.description,
        "geometry_type": layer.geometry_type,
        "render": layer.render,
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "time_field": layer.time_start,
        "time_end_field": layer.time_end,
        "restricted": layer.restricted,
        "style": {"color": s.color, "by": s.by, "colors": s.colors, "fill_opacity": s.fill_opacity,
                  "radius": s.radius, "width": s.width},
        "legend": legend(layer),
        # A categorical property names its vocabulary; the page's config holds every vocabulary's labels
        # (web/i18n.py), so values, legends and choices are labelled the one same way.
        "properties": [{"name": p.name, "type": p.type, "title": {"vi": p.title_vi, "en": p.title_en},
                        "vocabulary": p.vocabulary} for p in layer.properties],
        "urls": {
            "collection": f"{base}/collections/{layer.id}",
            "items": f"{base}/collections/{layer.id}/items",
            "tiles": tile_template(request, layer),
            "tilejson": f"{base}/collections/{layer.id}/tiles/WebMercatorQuad",
        },
        "tile_layer": layer.id,  # the MVT layer name inside each tile
        # The property a tile's feature id stands for (null: the feature id is the OGC feature id).
        "tile_feature_id": layer.tile_feature_id,
    }


@router.get("/layers", summary="Map layers the caller may see, with style and legend")
async def layers(request: Request, principal: Annotated[Caller | None, Depends(optional_principal)]
                 ) -> dict[str, Any]:
    return {"layers": [describe(request, layer) for layer in registry.all_layers() if may_see(layer, principal)]}
