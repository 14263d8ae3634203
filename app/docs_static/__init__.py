"""``/docs`` served offline: Swagger UI's assets are vendored in this package (README.md:
source, version, licence) and served from it, never from a CDN."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.errors import NotFound

HERE = Path(__file__).resolve().parent
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
PREFIX = "/docs/assets"
router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{PREFIX}/swagger-ui-bundle.js", swagger_css_url=f"{root}{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{PREFIX}/favicon-32x32.png",
    )


@router.get(PREFIX + "/{name}")
def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:  # only the listed files: no path ever reaches the file system
        raise NotFound(f"no docs asset {name!r}")
    return FileResponse(HERE / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
