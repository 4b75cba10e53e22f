"""Product photos in the service: the category of an uploaded photo, and look-alikes of a
catalogue item or an uploaded photo.

Answers come from the active version of `images/<name>` (trained with
`shopsense images train`); the newest trained name serves when a request names none. A
model is loaded on first use and again when another version becomes active. Uploads are
multipart files of any size and mode (RGB, RGBA, palette, grayscale PNG/JPEG), read the
way the model was trained (its side, channels and inversion), decoded no larger than the
model needs (`shopsense.images.io.decode`); refused when over the service's body limit or
its decoded-pixel limit `max_image_pixels` (413, naming the limit) or not a decodable image
(422).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from shopsense.images.io import ImageError, ImageTooLarge, decode, release_memory
from shopsense.registry import ModelVersion
from shopsense.serve.state import NotReady, ServiceState

router = APIRouter(prefix="/v1/images", tags=["images"])
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
#: Decodes of at least this many pixels hand freed memory back to the system afterwards.
_TRIM_PIXELS = 1_000_000


class ImageModels:
    """The loaded image model per name, reloaded when the active version changes."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._loaded: dict[str, tuple[ModelVersion, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None) -> tuple[Any, ModelVersion]:
        from shopsense.images.workflows import TASK

        registry = self.state.registry
        auto = self.state.settings.auto_activate
        if name is None:
            found = registry.versions(TASK)
            if not found:
                raise NotReady("no image model yet; run `shopsense images train` to train one")
            # the most recently activated model; a model trained since waits like a version
            activated = [
                (when, n)
                for n in {v.name for v in found}
                if (when := registry.activated_at(TASK, n))
            ]
            newest = max(found, key=lambda v: v.meta.get("created_at", "")).name
            name = max(activated)[1] if activated else newest
        try:
            version = registry.serving(TASK, name, auto_activate=auto)
        except FileNotFoundError as e:
            raise HTTPException(404, str(e)) from None
        with self._lock:
            held = self._loaded.get(name)
            if held is None or held[0].path != version.path:
                model = registry.load(
                    TASK, version.name, version.version, onnx=self.state.settings.onnx
                )
                held = self._loaded[name] = (version, model)
        return held[1], held[0]


def image_models(request: Request) -> ImageModels:
    app_state = request.app.state
    if getattr(app_state, "image_models", None) is None:
        app_state.image_models = ImageModels(app_state.service)
    return app_state.image_models


ModelsDep = Annotated[ImageModels, Depends(image_models)]
NameQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, description="model name")]
KQuery = Annotated[int, Query(ge=1, le=100)]


class Candidate(BaseModel):
    category: str
    probability: float


class ClassifyOut(BaseModel):
    model: str = Field(description="name/version that answered")
    category: str
    confidence: float = Field(description="probability of the predicted category")
    top: list[Candidate]


class Neighbour(BaseModel):
    item_id: str
    category: str | None
    similarity: float = Field(description="cosine similarity of the photos' embeddings")


class SimilarOut(BaseModel):
    model: str
    query: str
    items: list[Neighbour]


async def _photo(upload: UploadFile, fmt: Any, settings: Any) -> Any:
    limit = settings.max_body_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the image is larger than {limit:,} bytes")
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    try:
        return await run_in_threadpool(
            _read_photo, data, fmt, upload.filename or "upload", settings.max_image_pixels
        )
    except ImageTooLarge as e:
        raise HTTPException(413, str(e)) from None
    except ImageError as e:
        raise HTTPException(422, str(e)) from None


def _read_photo(data: bytes, fmt: Any, name: str, max_pixels: int) -> Any:
    """The upload as model input, decoded no larger than the model needs (a JPEG at a
    reduced DCT scale) and refused above `max_pixels`; the decoded image is dropped before
    returning, and memory freed by large decodes is handed back to the system."""
    img = decode(data, name=name, side=fmt.size, max_pixels=max_pixels)
    large = img.width * img.height >= _TRIM_PIXELS
    try:
        return fmt.convert(img)
    finally:
        img.close()
        del img
        if large:
            release_memory()


def _label(version: ModelVersion) -> str:
    return f"{version.name}/{version.version}"


@router.post("/classify", response_model=ClassifyOut)
async def classify(
    request: Request,
    models: ModelsDep,
    file: Annotated[UploadFile, File(description="a PNG or JPEG photo")],
    name: NameQuery = None,
) -> ClassifyOut:
    """The category of an uploaded product photo, with the three most likely ones."""
    from shopsense.images.workflows import classify_images

    model, version = await run_in_threadpool(models.get, name)
    photo = await _photo(file, model.input_format, request.app.state.service.settings)
    out = (await run_in_threadpool(classify_images, model, photo[None], 3))[0]
    return ClassifyOut(model=_label(version), **out)


def _similar_out(frame: Any, version: ModelVersion, query: str) -> SimilarOut:
    items = [
        Neighbour(item_id=str(r.item_id), category=r.category, similarity=float(r.similarity))
        for r in frame.itertuples(index=False)
    ]
    return SimilarOut(model=_label(version), query=query, items=items)


def _search(model: Any, version: ModelVersion) -> Any:
    if model.search_ is None:
        raise HTTPException(409, f"{_label(version)} has no visual search index; retrain it")
    return model.search_


@router.get("/similar/{item_id}", response_model=SimilarOut)
async def similar_item(
    models: ModelsDep,
    item_id: Annotated[str, PathParam(min_length=1, max_length=256)],
    k: KQuery = 10,
    name: NameQuery = None,
) -> SimilarOut:
    """Catalogue photos that look most like this item's photo (404: no photo indexed)."""
    model, version = await run_in_threadpool(models.get, name)
    search = _search(model, version)
    try:
        frame = await run_in_threadpool(search.similar_items, item_id, k)
    except KeyError:
        raise HTTPException(404, f"item {item_id!r} has no photo in the search index") from None
    return _similar_out(frame, version, item_id)


@router.post("/similar", response_model=SimilarOut)
async def similar_upload(
    request: Request,
    models: ModelsDep,
    file: Annotated[UploadFile, File(description="a PNG or JPEG photo")],
    k: KQuery = 10,
    name: NameQuery = None,
) -> SimilarOut:
    """Catalogue photos that look most like an uploaded photo."""
    model, version = await run_in_threadpool(models.get, name)
    search = _search(model, version)
    photo = await _photo(file, model.input_format, request.app.state.service.settings)
    embedding = (await run_in_threadpool(model.embed, photo[None]))[0]
    frame = await run_in_threadpool(search.similar_to, embedding, k)
    return _similar_out(frame, version, file.filename or "upload")
