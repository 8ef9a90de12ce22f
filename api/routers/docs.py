"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served with their assets from ``/static/vendor`` (npm
packages swagger-ui-dist and redoc, see web/static/vendor/README.md): no CDN, no Google fonts."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from web import assets

router = APIRouter(include_in_schema=False)

SWAGGER_JS = "vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "vendor/swagger-ui/swagger-ui.css"
SWAGGER_ICON = "vendor/swagger-ui/favicon-32x32.png"
REDOC_JS = "vendor/redoc/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    # validatorUrl None: Swagger UI would otherwise load a badge from validator.swagger.io.
    return get_swagger_ui_html(
        openapi_url=app.openapi_url, title=f"{app.title} — API", oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_js_url=assets.url(SWAGGER_JS), swagger_css_url=assets.url(SWAGGER_CSS),
        swagger_favicon_url=assets.url(SWAGGER_ICON), swagger_ui_parameters={"validatorUrl": None})


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app = request.app
    return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} — API", redoc_js_url=assets.url(REDOC_JS),
                          redoc_favicon_url=assets.url("sitmap/favicon.svg"), with_google_fonts=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
